"""Customer registration: the form (``RegistrationInput``, ``validate_registration``), ``register``
and ``purge_unverified`` for registrations never confirmed (7 days).

Security properties (issue 3): registration stores nothing until the whole form is valid; an
e-mail that already has an account gets the same answer and the same hasher work, and its owner
a mail instead; at most ``REGISTER_TERMINAL`` registrations per terminal and hour (the counter
is reserved before the form is acted on, so it also limits asking whether a username is taken);
usernames of the customer-number form are refused (the login goes by the identifier's form);
the answer takes at least ``response_floor_ms`` (``services.timing``). The mailed code is
confirmed in ``services.accounts.confirmation``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from db.models import Account, Consent, EmailToken, Session, Throttle
from services import audit, mail, throttle
from services.accounts.common import (
    MSG_EMAIL_UNUSABLE,
    MSG_FORM,
    MSG_REQUIRED,
    _name,
    _validation,
    prepare_password,
    raise_after_commit,
)
from services.accounts.forms import (
    MSG_TERMS,
    AddressChecks,
    clean_text,
    field_errors,
    field_problem,
    normalize_email,
)
from services.accounts.tokens import PURPOSE_VERIFY, issue_token, public_url
from services.errors import N_, Conflict, Throttled, ValidationFailed
from services.normalize import customer_number as norm_customer_number
from services.normalize import email_key, looks_like_customer_number, text_input, username_key
from services.passwords import check_password
from services.timing import equal_time

if TYPE_CHECKING:
    from services.backend import Backend, Caller


UNVERIFIED_MAX_AGE = dt.timedelta(days=7)
DEFAULT_CUSTOMER_TYPES = ("private", "teacher", "company", "organiser")
# Registrations per terminal: 20 within an hour, then the terminal waits for the hour's rest.
REGISTER_TERMINAL = throttle.Policy(max_failures=20, window=dt.timedelta(hours=1),
                                    base_wait=dt.timedelta(hours=1), max_wait=dt.timedelta(hours=1))

MSG_TYPE = N_("Please choose a customer type.")
MSG_USERNAME = N_("The username may contain letters, digits, dots, hyphens and underscores (3 to 64 characters).")
MSG_USERNAME_NUMBER = N_("A username must not look like a customer number. Please use at least "
                         "one letter.")
MSG_REGISTER_WAIT = N_("Too many registrations were made at this terminal. Please try again in "
                       "{minutes} minutes.")
MSG_USERNAME_TAKEN = N_("This username is already taken. Please choose another one.")
MSG_CONFIRM = N_("The passwords do not match.")
MSG_CUSTOMER_NUMBER = N_("Please enter the customer number as shown on your invoice.")
MSG_REGISTERED = N_(
    "Thank you for registering. We have sent an e-mail with a confirmation code to {email}. "
    "The code is valid for 30 minutes. If the e-mail does not arrive, please also check your "
    "spam or junk folder."
)

_USERNAME = re.compile(r"^[\w.\-]{3,64}$")
_CUSTOMER_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9\-/.]{2,31}$")


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


class RegistrationResult(BaseModel):
    """Identical for a new address and one that already has an account."""

    email: str
    identifier: str
    message: str = MSG_REGISTERED
    params: dict[str, str]
    next_step: str = "verify"


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
