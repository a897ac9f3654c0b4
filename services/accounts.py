"""Accounts: registration, e-mail confirmation, login, password reset, password and e-mail change.

Every function takes the ``Backend`` (unit of work, clock, hasher, digester) and returns a
pydantic result or raises a ``DomainError`` whose ``fields`` name the form fields at fault
(type, username, email, password, password_confirm, salutation, first_name, last_name, street,
postal_code, city, country, customer_number, terms, code, identifier, current_password,
new_password). Messages are English msgids, translated where they are shown.

Security properties (issue 3):
* registration stores nothing until the whole form is valid; an e-mail that already has an
  account gets the same answer and the same hasher work, and its owner a mail instead; at most
  ``REGISTER_TERMINAL`` registrations per terminal and hour (the counter is reserved before the
  form is acted on, so it also limits asking whether a username is taken); usernames of the
  customer-number form are refused (the login goes by the identifier's form);
* requests whose answer must not tell whether an account exists (registration, password
  reset, resend) take at least ``response_floor_ms`` (``services.timing``);
* login reserves the attempt before the password is checked (``throttle.reserve``), does
  exactly one argon2 verification for an unknown user, a wrong password and a locked
  account, and answers with one message; per-account waits and lockout
  (``throttle.LOGIN_ACCOUNT``) plus a per-terminal limit; a correct password during a wait is
  refused; parameters are upgraded (rehash) on login;
* mailed codes come from the CSPRNG (10 characters without look-alikes), are stored as keyed
  digests bound to account and purpose, valid 30 minutes, used once, dead after 5 wrong tries;
  a new code keeps the count of wrong tries of the codes still within their validity.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.engine import for_update
from db.models import (
    Account,
    AccountDeletion,
    Consent,
    Customer,
    CustomerLink,
    EmailToken,
    Membership,
    Session,
    SupportRequest,
    Throttle,
)
from services import audit, mail, second_factor, sessions, throttle
from services.crypto import new_code, new_token, normalize_code
from services.errors import N_, AuthFailed, Conflict, DomainError, Throttled, ValidationFailed
from services.i18n import format_date
from services.normalize import (
    MSG_CONTROL,
    email_key,
    fold_name,
    looks_like_customer_number,
    nfkc,
    text_input,
    username_key,
)
from services.normalize import customer_number as norm_customer_number
from services.passwords import MAX_LENGTH, check_password, length
from services.timing import equal_time

if TYPE_CHECKING:
    from services.backend import Backend, Caller

# --------------------------------------------------------------------------- constants

CODE_LENGTH = 10
CODE_VALID = dt.timedelta(minutes=30)
MAX_CODE_TRIES = 5
RESEND_INTERVAL = dt.timedelta(seconds=60)
UNVERIFIED_MAX_AGE = dt.timedelta(days=7)
DEFAULT_CUSTOMER_TYPES = ("private", "teacher", "company", "organiser")

PURPOSE_VERIFY = "verify_email"
PURPOSE_RESET = "password_reset"
PURPOSE_EMAIL_CHANGE = "email_change"

# Resend/reset requests: one a minute per identifier (the same for known and unknown ones).
RESEND_POLICY = throttle.Policy(max_failures=1, window=RESEND_INTERVAL, base_wait=RESEND_INTERVAL,
                                max_wait=RESEND_INTERVAL)

# Registrations per terminal: 20 within an hour, then the terminal waits for the hour's rest.
REGISTER_TERMINAL = throttle.Policy(max_failures=20, window=dt.timedelta(hours=1),
                                    base_wait=dt.timedelta(hours=1), max_wait=dt.timedelta(hours=1))

# --------------------------------------------------------------------------- messages

MSG_FORM = N_("Please correct the marked fields.")
MSG_REQUIRED = N_("This field must not be empty.")
MSG_INVALID = N_("Please check this entry.")
MSG_TOO_LONG = N_("This entry is too long.")
MSG_TYPE = N_("Please choose a customer type.")
MSG_USERNAME = N_("The username may contain letters, digits, dots, hyphens and underscores (3 to 64 characters).")
MSG_USERNAME_NUMBER = N_("A username must not look like a customer number. Please use at least "
                         "one letter.")
MSG_REGISTER_WAIT = N_("Too many registrations were made at this terminal. Please try again in "
                       "{minutes} minutes.")
MSG_USERNAME_TAKEN = N_("This username is already taken. Please choose another one.")
MSG_EMAIL = N_("Please enter a valid e-mail address.")
MSG_CONFIRM = N_("The passwords do not match.")
MSG_COUNTRY = N_("Please choose a country.")
MSG_POSTAL_DE = N_("The postal code has 5 digits.")
MSG_POSTAL_4 = N_("The postal code has 4 digits.")
MSG_POSTAL = N_("Please enter a valid postal code.")
MSG_CUSTOMER_NUMBER = N_("Please enter the customer number as shown on your invoice.")
MSG_TERMS = N_("Please accept the terms and conditions.")
MSG_REGISTERED = N_(
    "Thank you for registering. We have sent an e-mail with a confirmation code to {email}. "
    "The code is valid for 30 minutes. If the e-mail does not arrive, please also check your "
    "spam or junk folder."
)
MSG_CODE_INVALID = N_("The code is not correct or no longer valid. Please check it or request a new code.")
MSG_CODE_DEAD = N_("Too many wrong codes were entered. Please request a new code in {minutes} minutes.")
MSG_RESEND_WAIT = N_("A new code can be requested once a minute. Please wait {seconds} seconds.")
MSG_RESENT = N_("If a confirmation is pending for this address, we have sent a new code.")
MSG_VERIFIED = N_("Your e-mail address is confirmed. You can now log in.")
MSG_LINKED = N_("Your customer number {number} is now linked to your account.")
MSG_ADDRESS_REVIEW = N_("Your address will be checked by hand. We will let you know by e-mail.")
MSG_LOGIN_FAILED = N_(
    "The username, e-mail address or password is not correct, or the account is locked. "
    "If you have forgotten your password, you can reset it."
)
MSG_NOT_VERIFIED = N_("Your e-mail address is not confirmed yet. Please enter the code from our e-mail.")
MSG_RESET_SENT = N_(
    "If an account exists for this entry, we have sent an e-mail with a code to reset the "
    "password. The code is valid for 30 minutes."
)
MSG_RESET_DONE = N_("Your password has been changed. Please log in with your new password.")
MSG_PASSWORD_CHANGED = N_("Your password has been changed.")
MSG_EMAIL_CHANGE_SENT = N_("We have sent a code to {email}. Please enter it to confirm the new address.")
MSG_EMAIL_SAME = N_("This is already your e-mail address.")
MSG_EMAIL_UNUSABLE = N_("This e-mail address cannot be used.")
MSG_EMAIL_CHANGED = N_("Your e-mail address has been changed.")


class DeletionPending(DomainError):
    """The right password of an account waiting for its deletion (#16): the login screen
    offers to cancel it (``services.privacy.cancel_deletion_login``); ``params["date"]``."""

    code = "deletion_pending"


MSG_DELETION_PENDING = N_("Your account is scheduled for deletion on {date}. Do you want to "
                          "cancel the deletion and keep your account?")


class EmailNotVerified(DomainError):
    """Correct password, but the e-mail is not confirmed: the UI opens the code screen."""

    code = "email_not_verified"


# --------------------------------------------------------------------------- input models

FIELD_NAMES = {"customer_type": "type", "accept_terms": "terms"}
_USERNAME = re.compile(r"^[\w.\-]{3,64}$")
_CUSTOMER_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9\-/.]{2,31}$")
_POSTAL_OTHER = re.compile(r"^[A-Z0-9][A-Z0-9 \-]{1,8}[A-Z0-9]$")


def field_problem(msgid: str) -> PydanticCustomError:
    return PydanticCustomError("kiosk", msgid)


@cache
def countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (from Babel's CLDR data)."""
    from babel import Locale

    return frozenset(
        k for k in Locale("en").territories if len(k) == 2 and k.isalpha()
        and k not in {"ZZ", "EU", "EZ", "UN", "QO"}
    )


def clean_text(value: Any, *, required: bool, max_len: int) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise field_problem(MSG_INVALID)
    text = nfkc(value)
    text = " ".join(text.split())
    if not text:
        if required:
            raise field_problem(MSG_REQUIRED)
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise field_problem(MSG_CONTROL)
    if len(text) > max_len:
        raise field_problem(MSG_TOO_LONG)
    return text


def normalize_email(value: Any) -> str:
    """A syntactically valid address (no DNS lookup), in its normalised form."""
    if not isinstance(value, str) or not value.strip():
        raise field_problem(MSG_REQUIRED)
    try:
        result = validate_email(nfkc(value), check_deliverability=False)
    except EmailNotValidError:
        raise field_problem(MSG_EMAIL) from None
    if len(result.normalized) > 254:
        raise field_problem(MSG_TOO_LONG)
    return result.normalized


def postal_code_problem(country: str | None, code: str) -> str | None:
    """The msgid for a postal code that does not fit the country, else None."""
    country = (country or "DE").upper()
    if country == "DE":
        return None if re.fullmatch(r"\d{5}", code) else MSG_POSTAL_DE
    if country in ("AT", "CH"):
        return None if re.fullmatch(r"\d{4}", code) else MSG_POSTAL_4
    return None if _POSTAL_OTHER.fullmatch(code) else MSG_POSTAL


def postal_key(value: str | None) -> str:
    return re.sub(r"[\s\-]", "", nfkc(value or "")).upper()


class AddressChecks(BaseModel):
    """Salutation, names, street, country (ISO code, default DE) and postal code per country,
    shared by every form with a name and an address. Declare ``country`` before
    ``postal_code`` so the code is checked against it."""

    @field_validator("salutation", mode="before", check_fields=False)
    @classmethod
    def _salutation(cls, value: Any) -> str | None:
        return clean_text(value, required=False, max_len=40)

    @field_validator("first_name", "last_name", "city", mode="before", check_fields=False)
    @classmethod
    def _name(cls, value: Any) -> str | None:
        return clean_text(value, required=True, max_len=120)

    @field_validator("street", mode="before", check_fields=False)
    @classmethod
    def _street(cls, value: Any) -> str | None:
        return clean_text(value, required=True, max_len=200)

    @field_validator("country", mode="before", check_fields=False)
    @classmethod
    def _country(cls, value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "DE"
        if not isinstance(value, str) or value.strip().upper() not in countries():
            raise field_problem(MSG_COUNTRY)
        return value.strip().upper()

    @field_validator("postal_code", mode="before", check_fields=False)
    @classmethod
    def _postal(cls, value: Any, info: ValidationInfo) -> str:
        text = clean_text(value, required=True, max_len=16)
        assert text is not None
        text = text.upper()
        problem = postal_code_problem(info.data.get("country", "DE"), text)
        if problem:
            raise field_problem(problem)
        return text


class RegistrationInput(AddressChecks):
    """The registration form. Validate with ``validate_registration`` to get all field errors
    (form field names) at once; pass ``context={"customer_types": [...]}`` to restrict types."""

    customer_type: str
    username: str | None = None
    email: str
    salutation: str | None = None
    first_name: str
    last_name: str
    password: str
    password_confirm: str
    street: str
    country: str = "DE"
    postal_code: str
    city: str
    customer_number: str | None = None
    accept_terms: bool = False
    marketing: bool = False

    @field_validator("customer_type", mode="before")
    @classmethod
    def _type(cls, value: Any, info: ValidationInfo) -> str:
        types = (info.context or {}).get("customer_types") or DEFAULT_CUSTOMER_TYPES
        if not isinstance(value, str) or value.strip() not in types:
            raise field_problem(MSG_TYPE)
        return value.strip()

    @field_validator("username", mode="before")
    @classmethod
    def _username(cls, value: Any) -> str | None:
        text = clean_text(value, required=False, max_len=64)
        if text is not None and not _USERNAME.fullmatch(text):
            raise field_problem(MSG_USERNAME)
        if text is not None and looks_like_customer_number(text):
            raise field_problem(MSG_USERNAME_NUMBER)  # the login goes by the form (issue 20)
        return text

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        return normalize_email(value)

    @field_validator("password", mode="before")
    @classmethod
    def _password(cls, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str):
            raise field_problem(MSG_REQUIRED)
        data = info.data
        problems = check_password(
            value, username=data.get("username"), email=data.get("email"),
            first_name=data.get("first_name"), last_name=data.get("last_name"),
        )
        if problems:
            raise field_problem(problems[0])
        return value

    @field_validator("password_confirm", mode="before")
    @classmethod
    def _confirm(cls, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str) or value == "":
            raise field_problem(MSG_REQUIRED)
        password = info.data.get("password")
        if password is not None and value != password:
            raise field_problem(MSG_CONFIRM)
        return value

    @field_validator("customer_number", mode="before")
    @classmethod
    def _customer_number(cls, value: Any) -> str | None:
        text = clean_text(value, required=False, max_len=32)
        if text is None:
            return None
        number = norm_customer_number(text)
        if not _CUSTOMER_NUMBER.fullmatch(number):
            raise field_problem(MSG_CUSTOMER_NUMBER)
        return number

    @field_validator("accept_terms", mode="before")
    @classmethod
    def _terms(cls, value: Any) -> bool:
        if value is not True:
            raise field_problem(MSG_TERMS)
        return True

    @field_validator("marketing", mode="before")
    @classmethod
    def _marketing(cls, value: Any) -> bool:
        return bool(value)


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Form field name -> msgid for every field of a pydantic ValidationError."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        field = FIELD_NAMES.get(name, name)
        if field in errors:
            continue
        if error["type"] == "kiosk":
            errors[field] = error["msg"]
        elif error["type"] == "missing":
            errors[field] = MSG_TERMS if field == "terms" else MSG_REQUIRED
        else:
            errors[field] = MSG_INVALID
    return errors


def validate_registration(data: Mapping[str, Any] | RegistrationInput,
                          customer_types: list[str] | tuple[str, ...] | None = None
                          ) -> RegistrationInput:
    """The validated form, or ValidationFailed with every field error at once."""
    if isinstance(data, RegistrationInput):
        data = data.model_dump()
    raw = dict(data)
    for form, model in (("type", "customer_type"), ("terms", "accept_terms")):
        if form in raw and model not in raw:
            raw[model] = raw.pop(form)
    try:
        return RegistrationInput.model_validate(
            raw, context={"customer_types": tuple(customer_types or DEFAULT_CUSTOMER_TYPES)}
        )
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None


# --------------------------------------------------------------------------- results


class RegistrationResult(BaseModel):
    """Identical for a new address and one that already has an account."""

    email: str
    identifier: str
    message: str = MSG_REGISTERED
    params: dict[str, str]
    next_step: str = "verify"


class RequestResult(BaseModel):
    message: str
    params: dict[str, Any] = {}


class VerificationResult(BaseModel):
    account_id: int
    message: str = MSG_VERIFIED
    linked_customer_number: str | None = None
    address_review: bool = False
    notes: list[str] = []
    params: dict[str, Any] = {}


class LoginResult(BaseModel):
    token: str
    account_id: int
    display_name: str
    kind: str
    language: str
    #: #15: "code" or "enrol" when the session waits for its second step (then the other
    #: fields are blank, whether the password was right or not): services.second_factor
    second_factor: str | None = None


# --------------------------------------------------------------------------- helpers


def prepare_password(password: str) -> str:
    """Passwords are hashed in NFKC (NIST SP 800-63B), so every keyboard gives the same."""
    return unicodedata.normalize("NFKC", password)


def _find_account(db: DbSession, identifier: str, kinds: tuple[str, ...] | None = None
                  ) -> Account | None:
    text = nfkc(identifier)
    if not text:
        return None
    query = select(Account).where(
        or_(Account.username_key == username_key(text), Account.email_key == email_key(text))
    )
    if kinds:
        query = query.where(Account.kind.in_(kinds))
    return db.scalars(query.order_by(Account.id)).first()


def _identifier_key(backend: Backend, identifier: str) -> str:
    return "i" + backend.digester.digest("login-identifier", username_key(identifier))[:40]


def _name(account: Account) -> str:
    return sessions.display_name(account)


def _code_digest(backend: Backend, purpose: str, account_id: int, code: str) -> str:
    return backend.digester.digest("email_code", f"{purpose}:{account_id}:{normalize_code(code)}")


def link_token_digest(backend: Backend, token: str) -> str:
    return backend.digester.digest("email_link", token)


def _carried_tries(db: DbSession, account_id: int, purpose: str, now: dt.datetime
                   ) -> tuple[int, dt.datetime | None]:
    """Wrong tries of this purpose's codes still within their validity (max), and when the
    last of those codes expires."""
    rows = db.execute(
        select(EmailToken.failed_attempts, EmailToken.expires_at).where(
            EmailToken.account_id == account_id, EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None), EmailToken.expires_at > now,
        )
    ).all()
    if not rows:
        return 0, None
    return max(r[0] for r in rows), max(r[1] for r in rows)


def issue_token(db: DbSession, backend: Backend, account: Account, purpose: str,
                 *, new_email: str | None = None) -> tuple[str, str]:
    """Revoke earlier codes of this purpose and create a new one (code, link token)."""
    now = backend.now()
    carried, _ = _carried_tries(db, account.id, purpose, now)
    for old in db.scalars(select(EmailToken).where(
        EmailToken.account_id == account.id, EmailToken.purpose == purpose,
        EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
    )):
        old.revoked_at = now
    code = new_code(CODE_LENGTH)
    link = new_token()
    db.add(EmailToken(
        account_id=account.id, purpose=purpose,
        code_digest=_code_digest(backend, purpose, account.id, code),
        link_digest=link_token_digest(backend, link), new_email=new_email,
        failed_attempts=carried, created_at=now, expires_at=now + CODE_VALID,
    ))
    return code, link


def live_link_token(db: DbSession, backend: Backend, link_token: str | None, now: dt.datetime
                    ) -> tuple[EmailToken, Account] | None:
    """The mailed link's token (row-locked) and its account while the link can still be used:
    not used, revoked, expired or dead after wrong codes. None otherwise."""
    token = db.scalars(for_update(select(EmailToken).where(
        EmailToken.link_digest == link_token_digest(backend, link_token or "")), db)).first()
    account = db.get(Account, token.account_id) if token is not None else None
    if (token is None or account is None or token.used_at or token.revoked_at
            or token.expires_at <= now or token.failed_attempts >= MAX_CODE_TRIES):
        return None
    return token, account


def use_token(db: DbSession, token: EmailToken, now: dt.datetime) -> bool:
    """Mark the token used; False when another terminal used or revoked it first."""
    return db.execute(update(EmailToken).where(
        EmailToken.id == token.id, EmailToken.used_at.is_(None),
        EmailToken.revoked_at.is_(None)).values(used_at=now)).rowcount == 1


def check_code(db: DbSession, backend: Backend, account: Account, purpose: str, code: str
                ) -> EmailToken | None:
    """The matching live token, marked used; None after counting a wrong try."""
    now = backend.now()
    token = db.scalars(for_update(
        select(EmailToken).where(
            EmailToken.account_id == account.id, EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
        ).order_by(EmailToken.id.desc()).limit(1), db,
    ).execution_options(populate_existing=True)).first()
    if token is None or token.expires_at <= now or token.failed_attempts >= MAX_CODE_TRIES:
        return None
    expected = _code_digest(backend, purpose, account.id, code or "")
    live = (EmailToken.id == token.id, EmailToken.used_at.is_(None),
            EmailToken.revoked_at.is_(None))
    if not backend.digester.same(token.code_digest, expected):
        # counted in SQL, so that simultaneous wrong tries count exactly on SQLite too
        tries = EmailToken.failed_attempts + 1
        db.execute(update(EmailToken).where(*live).values(
            failed_attempts=tries,
            revoked_at=case((tries >= MAX_CODE_TRIES, now), else_=None),
        ))
        return None
    # conditional, so that a code is used once even when submitted twice at the same moment
    if db.execute(update(EmailToken).where(*live).values(used_at=now)).rowcount != 1:
        return None
    token.used_at = now
    return token


def raise_after_commit(db: DbSession, error: DomainError) -> None:
    """Keep the counters written so far (a raise inside the transaction would undo them)."""
    db.commit()
    raise error


def _validation(field: str, msgid: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(msgid, fields={field: msgid}, params=params)


def _new_password_problem(password: str, account: Account | None, field: str) -> None:
    problems = check_password(
        password,
        username=account.username if account else None,
        email=account.email if account else None,
        first_name=account.first_name if account else None,
        last_name=account.last_name if account else None,
    )
    if problems:
        raise ValidationFailed(problems[0], fields={field: problems[0]},
                               params={"problems": problems})


def public_url(backend: Backend, path: str, token: str) -> str:
    return backend.settings.public_url.rstrip("/") + f"/{path}/" + token


# --------------------------------------------------------------------------- registration


@equal_time
@text_input()
def register(backend: Backend, data: Mapping[str, Any] | RegistrationInput, caller: Caller
             ) -> RegistrationResult:
    """Create an unconfirmed account and mail a confirmation code (see module docstring)."""
    form = validate_registration(data, backend.settings.customer_types)
    _reserve_registration(backend, caller)
    # The one hash of every registration: also done when the address is taken.
    password_hash = backend.hasher.hash(prepare_password(form.password))
    ekey = email_key(form.email)
    ukey = username_key(form.username) if form.username else None
    result = RegistrationResult(email=form.email, identifier=form.username or form.email,
                                params={"email": form.email})
    for _attempt in range(3):
        try:
            _register_once(backend, form, caller, password_hash, ekey, ukey)
            return result
        except IntegrityError:
            continue  # a simultaneous registration won; the next round sees its row
    raise Conflict(MSG_EMAIL_UNUSABLE, fields={"email": MSG_EMAIL_UNUSABLE})


def _reserve_registration(backend: Backend, caller: Caller) -> None:
    """Count this registration on the terminal's counter (successes too: the limit is on
    registrations, and with them on asking whether a username is taken); refused above it."""
    now = backend.now()
    terminal = (caller.terminal_id or "unknown")[:128]
    with backend.transaction() as db:
        reservation = throttle.reserve(db, [throttle.Limit(
            "register", "terminal", terminal, REGISTER_TERMINAL)], now)
        if not reservation.granted:
            audit.record(db, "registration", outcome="throttled", terminal_id=caller.terminal_id,
                         now=now)
            minutes = max(1, -(-reservation.wait_seconds(now) // 60))
            raise_after_commit(db, Throttled(MSG_REGISTER_WAIT, params={"minutes": minutes}))


def _register_once(backend: Backend, form: RegistrationInput, caller: Caller,
                   password_hash: str, ekey: str, ukey: str | None) -> None:
    now = backend.now()
    settings = backend.settings
    with backend.transaction() as db:
        existing = db.scalars(select(Account).where(Account.email_key == ekey)).first()
        if existing is None and ukey and db.scalar(
            select(Account.id).where(Account.username_key == ukey)
        ):
            raise _validation("username", MSG_USERNAME_TAKEN)
        if existing is not None:
            if existing.email:
                mail.enqueue(db, to=existing.email, template="account_exists",
                             language=existing.language or caller.language,
                             params={"name": _name(existing),
                                     "link": settings.public_url.rstrip("/") + "/reset"})
            audit.record(db, "registration", outcome="duplicate", actor_id=existing.id,
                         terminal_id=caller.terminal_id, now=now)
            return
        account = Account(
            kind="customer", username=form.username, username_key=ukey, email=form.email,
            email_key=ekey, password_hash=password_hash, customer_type=form.customer_type,
            salutation=form.salutation, first_name=form.first_name, last_name=form.last_name,
            street=form.street, postal_code=form.postal_code, city=form.city,
            country=form.country, language=caller.language, status="unverified",
            pending_customer_number=form.customer_number, created_at=now,
            password_changed_at=now,
        )
        db.add(account)
        db.flush()
        for kind, granted, version in (
            ("terms", True, settings.terms_version),
            ("privacy", True, settings.privacy_version),
            ("marketing", form.marketing, settings.marketing_version),
        ):
            db.add(Consent(account_id=account.id, kind=kind, granted=granted,
                           text_version=version, terminal_id=caller.terminal_id, created_at=now))
        code, link = issue_token(db, backend, account, PURPOSE_VERIFY)
        mail.enqueue(db, to=form.email, template="verify_email", language=caller.language,
                     params={"code": code, "link": public_url(backend, "verify", link),
                             "name": _name(account)})
        audit.record(db, "registration", actor_id=account.id, terminal_id=caller.terminal_id,
                     customer_type=form.customer_type, marketing=form.marketing,
                     with_customer_number=form.customer_number is not None, now=now)


# --------------------------------------------------------------------------- confirmation


@text_input()
def verify_email(backend: Backend, identifier: str, code: str, caller: Caller
                 ) -> VerificationResult:
    """Confirm the e-mail with the mailed code; then link the pending customer number."""
    if not (code or "").strip():
        raise _validation("code", MSG_REQUIRED)
    now = backend.now()
    with backend.transaction() as db:
        account = _find_account(db, identifier or "", ("customer",))
        if account is None or account.status != "unverified":
            audit.record(db, "email_verification", outcome="failed",
                         terminal_id=caller.terminal_id, reason="no_pending", now=now)
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        assert account is not None
        token = check_code(db, backend, account, PURPOSE_VERIFY, code)
        if token is None:
            audit.record(db, "email_verification", outcome="failed", actor_id=account.id,
                         terminal_id=caller.terminal_id, now=now)
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        account_id = _confirm(db, account, caller, now)
    return _after_confirmation(backend, account_id, caller)


@text_input()
def verify_email_link(backend: Backend, link_token: str, caller: Caller) -> VerificationResult:
    """The web variant: the token from the mailed link instead of the code."""
    now = backend.now()
    with backend.transaction() as db:
        found = live_link_token(db, backend, link_token, now)
        if (found is None or found[0].purpose != PURPOSE_VERIFY
                or found[1].status != "unverified"):
            audit.record(db, "email_verification", outcome="failed",
                         terminal_id=caller.terminal_id, via="link", now=now)
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        assert found is not None
        token, account = found
        if not use_token(db, token, now):
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        account_id = _confirm(db, account, caller, now)
    return _after_confirmation(backend, account_id, caller)


def _confirm(db: DbSession, account: Account, caller: Caller, now: dt.datetime) -> int:
    account.status = "active"
    account.verified_at = now
    # the records' memberships of this (now proven) address, e.g. a company's super admin
    claimed = db.execute(update(Membership).where(
        Membership.email_key == account.email_key, Membership.account_id.is_(None),
        Membership.state == "approved").values(account_id=account.id, state="active")).rowcount
    audit.record(db, "email_verification", actor_id=account.id,
                 terminal_id=caller.terminal_id, memberships=claimed, now=now)
    return account.id


def _after_confirmation(backend: Backend, account_id: int, caller: Caller) -> VerificationResult:
    try:
        return _link_or_review(backend, account_id, caller, allow_link=True)
    except IntegrityError:  # the number was linked elsewhere a moment ago
        return _link_or_review(backend, account_id, caller, allow_link=False)


def _link_or_review(backend: Backend, account_id: int, caller: Caller, *, allow_link: bool
                    ) -> VerificationResult:
    now = backend.now()
    with backend.transaction() as db:
        account = db.get(Account, account_id)
        assert account is not None
        number = account.pending_customer_number
        customer: Customer | None = None
        reason = "no_number"
        if number:
            customer = db.scalars(for_update(select(Customer).where(
                Customer.number == norm_customer_number(number)), db)).first()
            if customer is None or customer.merged_into_id is not None:
                reason = "not_found"
            elif (fold_name(customer.last_name) != fold_name(account.last_name)
                  or postal_key(customer.postal_code) != postal_key(account.postal_code)):
                reason = "mismatch"
            elif db.scalar(select(CustomerLink.id).where(
                    CustomerLink.customer_id == customer.id)):
                reason = "taken"
            elif db.scalar(select(CustomerLink.id).where(
                    CustomerLink.account_id == account.id,
                    CustomerLink.customer_type == customer.type)):
                reason = "type_taken"
            elif not allow_link:
                reason = "taken"
            else:
                reason = ""
        params = {"name": _name(account), "number": number or ""}
        if not reason and customer is not None:
            db.add(CustomerLink(account_id=account.id, customer_id=customer.id,
                                customer_type=customer.type, linked_at=now,
                                linked_by="registration"))
            account.pending_customer_number = None
            db.flush()
            audit.record(db, "customer_linked", actor_id=account.id, customer_id=customer.id,
                         terminal_id=caller.terminal_id, via="registration", now=now)
            mail.enqueue(db, to=account.email or "", template="customer_number_linked",
                         language=account.language, params=params)
            return VerificationResult(account_id=account.id, linked_customer_number=number,
                                      notes=[MSG_LINKED], params={"number": number})
        db.add(SupportRequest(
            kind="address_review", status="open", account_id=account.id,
            customer_id=customer.id if customer is not None else None,
            subject="Address review after registration",
            details={"customer_number": number, "reason": reason,
                     "name": _name(account), "street": account.street,
                     "postal_code": account.postal_code, "city": account.city,
                     "country": account.country, "customer_type": account.customer_type},
            created_at=now, updated_at=now,
        ))
        audit.record(db, "address_review_queued", actor_id=account.id,
                     customer_id=customer.id if customer is not None else None,
                     terminal_id=caller.terminal_id, reason=reason, now=now)
        mail.enqueue(db, to=account.email or "", template="address_review",
                     language=account.language, params=params)
        return VerificationResult(account_id=account.id, address_review=True,
                                  notes=[MSG_ADDRESS_REVIEW])


def request_allowed(db: DbSession, backend: Backend, action: str, identifier: str) -> int:
    """Seconds to wait before another mail for this identifier (0: go), counting this one."""
    now = backend.now()
    key = _identifier_key(backend, identifier)
    state = throttle.check(db, action, "identifier", key, RESEND_POLICY, now)
    if not state.allowed(now):
        return state.wait_seconds(now)
    throttle.fail(db, action, "identifier", key, RESEND_POLICY, now)
    return 0


@equal_time
@text_input()
def resend_verification(backend: Backend, identifier: str, caller: Caller) -> RequestResult:
    """A new confirmation code, at most once a minute; the count of wrong tries is kept."""
    if not nfkc(identifier or ""):
        raise _validation("identifier", MSG_REQUIRED)
    now = backend.now()
    with backend.transaction() as db:
        wait = request_allowed(db, backend, "resend_verify", identifier)
        if wait:
            raise_after_commit(db, Throttled(MSG_RESEND_WAIT, fields={"code": MSG_RESEND_WAIT},
                                              params={"seconds": wait}))
        account = _find_account(db, identifier, ("customer",))
        if account is None or account.status != "unverified" or not account.email:
            return RequestResult(message=MSG_RESENT)
        tries, until = _carried_tries(db, account.id, PURPOSE_VERIFY, now)
        if tries >= MAX_CODE_TRIES and until is not None:
            minutes = max(1, int((until - now).total_seconds() // 60) + 1)
            raise_after_commit(db, Throttled(MSG_CODE_DEAD, fields={"code": MSG_CODE_DEAD},
                                              params={"minutes": minutes}))
        code, link = issue_token(db, backend, account, PURPOSE_VERIFY)
        mail.enqueue(db, to=account.email, template="verify_email", language=caller.language,
                     params={"code": code, "link": public_url(backend, "verify", link),
                             "name": _name(account)})
        audit.record(db, "verification_resend", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=now)
    return RequestResult(message=MSG_RESENT)


# --------------------------------------------------------------------------- login


@text_input()
def login(backend: Backend, identifier: str, password: str, caller: Caller) -> LoginResult:
    """Customer login with username or e-mail (case-insensitive, NFKC)."""
    return _login(backend, identifier, password, caller, ("customer",))


@text_input()
def login_agent(backend: Backend, identifier: str, password: str, caller: Caller) -> LoginResult:
    """Service-desk login (Account.kind agent or supervisor); customers cannot use it."""
    return _login(backend, identifier, password, caller, sessions.AGENT_KINDS)


def _login(backend: Backend, identifier: str, password: str, caller: Caller,
           kinds: tuple[str, ...]) -> LoginResult:
    fields = {}
    if not nfkc(identifier or ""):
        fields["identifier"] = MSG_REQUIRED
    if not password:
        fields["password"] = MSG_REQUIRED
    if fields:
        raise ValidationFailed(MSG_FORM, fields=fields)
    if length(password) > MAX_LENGTH:  # refused before hashing, whoever it is
        raise AuthFailed(MSG_LOGIN_FAILED, fields={"password": MSG_LOGIN_FAILED})
    now = backend.now()
    terminal = (caller.terminal_id or "unknown")[:128]
    failed = AuthFailed(MSG_LOGIN_FAILED, fields={"password": MSG_LOGIN_FAILED})
    with backend.transaction() as db:  # 1. who it is (reads only)
        account = _find_account(db, identifier, kinds)
        key = f"a{account.id}" if account is not None else _identifier_key(backend, identifier)
        account_id = account.id if account is not None else None
        usable = (account is not None
                  and account.status in ("active", "unverified", "deletion_pending")
                  and account.password_hash is not None)
        stored = account.password_hash if usable and account is not None else None
    limits = login_limits(terminal, key)
    with backend.transaction() as db:  # 2. the attempt reserved and committed (throttle doc)
        reservation = throttle.reserve(db, limits, now)
        if reservation.refused_by("terminal"):
            raise_after_commit(db, Throttled(
                throttle.MSG_TERMINAL_WAIT, fields={"identifier": throttle.MSG_TERMINAL_WAIT},
                params={"seconds": reservation.wait_seconds(now)}))
        if not reservation.granted:
            frozen = reservation.status("account").frozen
            audit.record(db, "login", outcome="locked" if frozen else "throttled",
                         actor_id=account_id, terminal_id=caller.terminal_id, now=now)
            if not frozen:
                raise_after_commit(db, Throttled(
                    throttle.MSG_WAIT, fields={"identifier": throttle.MSG_WAIT},
                    params={"seconds": reservation.wait_seconds(now)}))
            throttle.fail(db, "login", "terminal", terminal, throttle.LOGIN_TERMINAL, now)
    if not reservation.granted:  # frozen: the same argon2 work and answer as a wrong password
        backend.hasher.verify(None, prepare_password(password))
        raise failed
    # 3. exactly one argon2 verification on every path (a dummy hash without an account)
    ok = backend.hasher.verify(stored, prepare_password(password))
    with backend.transaction() as db:  # 4. the outcome
        account = db.get(Account, account_id) if ok and account_id is not None else None
        if account is None or account.status not in ("active", "unverified",
                                                      "deletion_pending"):
            status = reservation.status("account")
            audit.record(db, "login", outcome="failed", actor_id=account_id,
                         terminal_id=caller.terminal_id, failures=status.failures, now=now)
            locked = db.get(Account, account_id) if account_id is not None else None
            if status.frozen and locked is not None and locked.status != "locked":
                locked.status = "locked"
                locked.locked_until = None
                audit.record(db, "account_locked", actor_id=account_id,
                             terminal_id=caller.terminal_id, failures=status.failures, now=now)
                sessions.end_all(db, locked.id, "locked", now)
            if not status.frozen and second_factor.wants_decoy(
                    db, locked, kinds == sessions.AGENT_KINDS):
                return _pending_login(second_factor.open_decoy(
                    db, backend, locked, caller.terminal_id), second_factor.CODE, caller)
            raise_after_commit(db, failed)
        assert account is not None
        factor = second_factor.login_step(db, account)
        if factor is None:
            throttle.succeeded(db, limits, now)
        else:  # the password was right: its count is given back, but earlier failures stay
            for limit in limits:  # until the code is right (second_factor.complete_login)
                throttle.release(db, limit.action, limit.scope, limit.key, limit.policy, now)
        if backend.hasher.needs_rehash(account.password_hash or ""):
            account.password_hash = backend.hasher.hash(prepare_password(password))
            audit.record(db, "password_upgraded", actor_id=account.id, now=now)
        if account.status == "unverified":
            audit.record(db, "login", outcome="unverified", actor_id=account.id,
                         terminal_id=caller.terminal_id, now=now)
            raise_after_commit(db, EmailNotVerified(
                MSG_NOT_VERIFIED, fields={"code": MSG_NOT_VERIFIED},
                params={"identifier": account.email or account.username or ""}))
        if account.status == "deletion_pending":  # #16: offer to cancel, no session
            audit.record(db, "login", outcome="deletion_pending", actor_id=account.id,
                         terminal_id=caller.terminal_id, now=now)
            erase_after = db.scalar(select(AccountDeletion.erase_after).where(
                AccountDeletion.account_id == account.id, AccountDeletion.state == "scheduled"))
            date = format_date(erase_after.date(), caller.language) if erase_after else ""
            raise_after_commit(db, DeletionPending(MSG_DELETION_PENDING, params={"date": date}))
        account.last_login_at = now
        token = sessions.create(db, backend, account, caller.terminal_id, second_factor=factor)
        audit.record(db, "login", actor_id=account.id, terminal_id=caller.terminal_id,
                     kind=account.kind, outcome=f"needs_{factor}" if factor else "ok", now=now)
        if factor:
            return _pending_login(token, factor, caller)
        return LoginResult(token=token, account_id=account.id, display_name=_name(account),
                           kind=account.kind, language=account.language)


#: The two counters of a login (kept here for the callers that import it from accounts).
login_limits = throttle.login_limits


def _pending_login(token: str, step: str, caller: Caller) -> LoginResult:
    """A login waiting for its second step: nothing about the account in it."""
    return LoginResult(token=token, account_id=0, display_name="", kind="",
                       language=caller.language, second_factor=step)


def logout(backend: Backend, token: str | None) -> None:
    sessions.end(backend, token, "logout")


# --------------------------------------------------------------------------- password reset


@equal_time
@text_input()
def request_password_reset(backend: Backend, identifier: str, caller: Caller) -> RequestResult:
    """Mail a reset code; the same answer whether an account exists or not."""
    if not nfkc(identifier or ""):
        raise _validation("identifier", MSG_REQUIRED)
    now = backend.now()
    result = RequestResult(message=MSG_RESET_SENT)
    with backend.transaction() as db:
        if request_allowed(db, backend, "reset_request", identifier):
            return result  # silently: a visible wait would tell that the account exists
        account = _find_account(db, identifier, ("customer",))
        if account is None or not account.email or account.status == "disabled":
            audit.record(db, "password_reset_request", outcome="unknown",
                         terminal_id=caller.terminal_id, now=now)
            return result
        tries, _until = _carried_tries(db, account.id, PURPOSE_RESET, now)
        if tries >= MAX_CODE_TRIES:
            audit.record(db, "password_reset_request", outcome="throttled",
                         actor_id=account.id, terminal_id=caller.terminal_id, now=now)
            return result
        code, link = issue_token(db, backend, account, PURPOSE_RESET)
        mail.enqueue(db, to=account.email, template="password_reset", language=caller.language,
                     params={"code": code, "link": public_url(backend, "reset", link),
                             "name": _name(account)})
        audit.record(db, "password_reset_request", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=now)
    return result


@text_input()
def reset_password(backend: Backend, identifier: str, code: str, new_password: str,
                   caller: Caller) -> RequestResult:
    """Set a new password with the mailed code. No automatic login; unlocks the account and
    ends its sessions."""
    fields = {}
    if not nfkc(identifier or ""):
        fields["identifier"] = MSG_REQUIRED
    if not (code or "").strip():
        fields["code"] = MSG_REQUIRED
    problems = check_password(new_password)
    if problems:
        fields["new_password"] = problems[0]
    if fields:
        raise ValidationFailed(MSG_FORM, fields=fields)
    now = backend.now()
    with backend.transaction() as db:
        account = _find_account(db, identifier, ("customer",))
        token = check_code(db, backend, account, PURPOSE_RESET, code) if account else None
        if account is None or token is None:
            audit.record(db, "password_reset", outcome="failed",
                         actor_id=account.id if account else None,
                         terminal_id=caller.terminal_id, now=now)
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        assert account is not None
        _apply_reset(db, backend, account, new_password, caller, now)
    return RequestResult(message=MSG_RESET_DONE)


@text_input()
def reset_password_link(backend: Backend, link_token: str, new_password: str, caller: Caller
                        ) -> RequestResult:
    """The web variant of ``reset_password``: the token from the mailed link instead of the
    identifier and the code (a weak password leaves the link valid)."""
    problems = check_password(new_password)
    if problems:
        raise ValidationFailed(MSG_FORM, fields={"new_password": problems[0]})
    now = backend.now()
    with backend.transaction() as db:
        found = live_link_token(db, backend, link_token, now)
        if (found is None or found[1].kind != "customer" or found[0].purpose != PURPOSE_RESET
                or not use_token(db, found[0], now)):
            audit.record(db, "password_reset", outcome="failed", terminal_id=caller.terminal_id,
                         via="link", now=now)
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        assert found is not None
        _apply_reset(db, backend, found[1], new_password, caller, now)
    return RequestResult(message=MSG_RESET_DONE)


def _apply_reset(db: DbSession, backend: Backend, account: Account, new_password: str,
                 caller: Caller, now: dt.datetime) -> None:
    """The new password after a valid code or link: unlock, end sessions, mail, audit."""
    # raising here rolls the use of the code back: it stays valid for another password
    _new_password_problem(new_password, account, "new_password")
    account.password_hash = backend.hasher.hash(prepare_password(new_password))
    account.password_changed_at = now
    if account.status == "locked":
        account.status = "active" if account.verified_at else "unverified"
        audit.record(db, "account_unlocked", actor_id=account.id, via="reset", now=now)
    account.failed_logins = 0
    account.locked_until = None
    throttle.reset(db, "login", "account", f"a{account.id}")
    sessions.end_all(db, account.id, "password_reset", now)
    if account.email:
        mail.enqueue(db, to=account.email, template="password_changed",
                     language=account.language, params={"name": _name(account)})
    audit.record(db, "password_reset", actor_id=account.id, terminal_id=caller.terminal_id,
                 now=now)


# --------------------------------------------------------------------------- changes


@text_input()
def change_password(backend: Backend, token: str | None, current_password: str,
                    new_password: str) -> RequestResult:
    """Needs the current password; other sessions of the account end."""
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        now = backend.now()
        fields = {}
        if not current_password:
            fields["current_password"] = MSG_REQUIRED
        problems = check_password(new_password, username=account.username, email=account.email,
                                  first_name=account.first_name, last_name=account.last_name)
        if problems:
            fields["new_password"] = problems[0]
        if fields:
            raise ValidationFailed(MSG_FORM, fields=fields)
        sessions.check_password_throttled(db, backend, account, prepare_password(current_password),
                                          row.terminal_id, field="current_password")
        account.password_hash = backend.hasher.hash(prepare_password(new_password))
        account.password_changed_at = now
        row.reauth_at = now
        sessions.end_all(db, account.id, "password_changed", now, except_digest=row.token_digest)
        if account.email:
            mail.enqueue(db, to=account.email, template="password_changed",
                         language=account.language, params={"name": _name(account)})
        audit.record(db, "password_change", actor_id=account.id, terminal_id=row.terminal_id,
                     now=now)
    return RequestResult(message=MSG_PASSWORD_CHANGED)


@text_input()
def request_email_change(backend: Backend, token: str | None, password: str, new_email: str
                         ) -> RequestResult:
    """Needs the password; mails a code to the new address (nothing changes until confirmed)."""
    try:
        address = normalize_email(new_email)
    except PydanticCustomError as exc:
        raise _validation("email", exc.message()) from None
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        now = backend.now()
        if not password:
            raise _validation("password", MSG_REQUIRED)
        sessions.check_password_throttled(db, backend, account, prepare_password(password),
                                          row.terminal_id, field="password")
        row.reauth_at = now
        if email_key(address) == account.email_key:
            raise _validation("email", MSG_EMAIL_SAME)
        taken = db.scalar(select(Account.id).where(Account.email_key == email_key(address)))
        if taken is not None:
            # the same answer: whether an address is taken is nobody else's business
            audit.record(db, "email_change_request", outcome="taken", actor_id=account.id,
                         terminal_id=row.terminal_id, now=now)
        else:
            code, link = issue_token(db, backend, account, PURPOSE_EMAIL_CHANGE,
                                      new_email=address)
            mail.enqueue(db, to=address, template="email_change_confirm",
                         language=account.language,
                         params={"code": code, "link": public_url(backend, "confirm-email", link),
                                 "name": _name(account)})
            audit.record(db, "email_change_request", actor_id=account.id,
                         terminal_id=row.terminal_id, now=now)
    return RequestResult(message=MSG_EMAIL_CHANGE_SENT, params={"email": address})


@text_input()
def confirm_email_change(backend: Backend, token: str | None, code: str) -> RequestResult:
    """The code from the new address: the address changes, the old one is told by mail."""
    if not (code or "").strip():
        raise _validation("code", MSG_REQUIRED)
    try:
        with backend.transaction() as db:
            row, account = sessions.live(db, backend, token)
            now = backend.now()
            found = check_code(db, backend, account, PURPOSE_EMAIL_CHANGE, code)
            if found is None or not found.new_email:
                audit.record(db, "email_change", outcome="failed", actor_id=account.id,
                             terminal_id=row.terminal_id, now=now)
                raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
            assert found is not None and found.new_email
            old = account.email
            account.email = found.new_email
            account.email_key = email_key(found.new_email)
            db.flush()
            if old:
                mail.enqueue(db, to=old, template="email_changed_notice",
                             language=account.language,
                             params={"name": _name(account), "new_email": found.new_email})
            audit.record(db, "email_change", actor_id=account.id, terminal_id=row.terminal_id,
                         now=now)
            new = found.new_email
    except IntegrityError:
        raise _validation("email", MSG_EMAIL_UNUSABLE) from None
    return RequestResult(message=MSG_EMAIL_CHANGED, params={"email": new})


# --------------------------------------------------------------------------- housekeeping


def purge_unverified(backend: Backend, *, max_age: dt.timedelta = UNVERIFIED_MAX_AGE) -> int:
    """Remove unconfirmed registrations older than 7 days; returns how many."""
    cutoff = backend.now() - max_age
    removed = 0
    with backend.transaction() as db:
        ids = list(db.scalars(select(Account.id).where(
            Account.status == "unverified", Account.kind == "customer",
            Account.created_at < cutoff)))
    for account_id in ids:
        try:
            with backend.transaction() as db:
                db.execute(delete(EmailToken).where(EmailToken.account_id == account_id))
                db.execute(delete(Consent).where(Consent.account_id == account_id))
                db.execute(delete(Session).where(Session.account_id == account_id))
                db.execute(delete(Throttle).where(Throttle.scope == "account",
                                                  Throttle.key == f"a{account_id}"))
                gone = db.execute(delete(Account).where(
                    Account.id == account_id, Account.status == "unverified")).rowcount
                if gone:
                    removed += 1
                    audit.record(db, "registration_purged", actor_id=account_id,
                                 now=backend.now())
        except IntegrityError:
            continue  # referenced by another flow (e.g. a membership): keep it
    return removed


__all__ = [
    "DeletionPending",
    "EmailNotVerified",
    "LoginResult",
    "RegistrationInput",
    "RegistrationResult",
    "RequestResult",
    "VerificationResult",
    "change_password",
    "confirm_email_change",
    "field_errors",
    "login",
    "login_agent",
    "logout",
    "purge_unverified",
    "register",
    "request_email_change",
    "request_password_reset",
    "reset_password",
    "reset_password_link",
    "resend_verification",
    "validate_registration",
    "verify_email",
    "verify_email_link",
]
