"""Organisations (guide 003): employees join their company's customer account.

Two ways in, both ending in the same completion (terms, privacy, password):

* **Self-registration** — ``check_company`` (e-mail, customer number and postal code of the
  company; a mismatch gets one neutral message and counts against the terminal),
  ``submit_registration`` (names, privacy statement, marketing consent; mails a confirmation
  code), ``redeem_code`` (the code at the kiosk: the request then waits for the company's super
  admins, who are told by mail), ``decide`` (a super admin approves or rejects, optionally with
  a reason; two simultaneous decisions: one wins, the other gets ``AlreadyDecided``).
* **Direct add** — ``add_contact`` (an admin enters name, e-mail and role).

After approval (or the direct add) the person gets the completion mail; ``redeem_code`` with
that code returns a short-lived ``finish`` token, and ``complete_registration`` stores the
consents and the password (the accounts password policy): the account is active.

Admins list ``members``, ``change_role`` and ``remove_member`` (the last super admin stays;
removal ends the member's sessions). ``housekeeping`` reminds the super admins of requests
older than 3 days and expires them after 30. Every step is audited, never with a code.

Membership states: pending_email → pending_approval → approved → active; rejected, expired,
invited (direct add, completion pending), removed. An applicant without an account yet gets a
stub account (status ``pending_approval`` / ``invited``, no password) that cannot log in; it is
removed again on rejection, expiry or removal before completion.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError, field_validator
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.engine import lock_rows
from db.models import Account, Consent, Customer, EmailToken, Membership, Session
from services import audit, mail, sessions, throttle

# The e-mail code machinery of the accounts service (digests bound to account and purpose,
# single use, five tries, carried counts): reused here rather than copied.
from services.accounts import (
    MSG_CODE_INVALID,
    MSG_CONFIRM,
    MSG_FORM,
    MSG_REQUIRED,
    MSG_RESEND_WAIT,
    AddressChecks,
    check_code,
    clean_text,
    field_errors,
    field_problem,
    issue_token,
    live_link_token,
    normalize_email,
    postal_key,
    prepare_password,
    public_url,
    raise_after_commit,
    request_allowed,
    use_token,
)
from services.caller import Caller
from services.errors import (
    N_,
    Conflict,
    DomainError,
    NotAllowed,
    NotFound,
    Throttled,
    ValidationFailed,
)
from services.normalize import MSG_CONTROL, email_key, text_input
from services.normalize import customer_number as norm_number
from services.passwords import check_password
from services.timing import equal_time

if TYPE_CHECKING:
    from services.backend import Backend

# --------------------------------------------------------------------------- constants

ROLES = ("super_admin", "admin", "member")
ADMIN_ROLES = ("super_admin", "admin")
PURPOSE_CONFIRM = "org_confirm"
PURPOSE_COMPLETE = "org_complete"
PURPOSE_FINISH = "org_finish"
COMPLETE_VALID = dt.timedelta(days=14)
REMIND_AFTER = dt.timedelta(days=3)
EXPIRE_AFTER = dt.timedelta(days=30)
UNCONFIRMED_AFTER = dt.timedelta(days=7)
PAGE_SIZE = 20
MAX_REASON = 500
HOUSEKEEPING_BATCH = 500
#: States in which a person is (or is becoming) part of the company.
LIVE_STATES = ("pending_email", "pending_approval", "approved", "invited", "active")
#: Account states of a person whose organisation registration is not complete (no login).
STUB_STATES = ("pending_approval", "invited")
#: States shown in the member list.
MEMBER_STATES = ("approved", "invited", "active")
ACTION_CHECK = "org_register"
# Per terminal: 5 mismatches within 30 minutes -> 1 min wait, doubling up to 30 min.
TERMINAL_POLICY = throttle.Policy(max_failures=5, window=dt.timedelta(minutes=30),
                                  base_wait=dt.timedelta(minutes=1),
                                  max_wait=dt.timedelta(minutes=30))

# --------------------------------------------------------------------------- messages

MSG_MISMATCH = N_("We could not find a company account with this customer number and postal "
                  "code. Please check both entries (you find the customer number on our quotes "
                  "and invoices).")
MSG_PRIVACY = N_("Please confirm that you have read and accept the privacy statement.")
MSG_TERMS = N_("Please accept the terms of use.")
MSG_REGISTERED = N_("Your registration has been submitted. We have sent an e-mail with a "
                    "confirmation code to {email}. Please enter the code here.")
MSG_WAITING = N_("Thank you, your registration is confirmed. It now waits for the super admin "
                 "of your company account. You will receive an e-mail as soon as it has been "
                 "approved.")
MSG_WAITING_DESK = N_("Thank you, your registration is confirmed. Your company account has no "
                      "super admin we could reach, so our service desk decides on it. You will "
                      "receive an e-mail as soon as it has been decided.")
MSG_RESENT = N_("If a registration is pending for this address, we have sent a new code.")
MSG_FINISH_EXPIRED = N_("This step took too long. Please request a new code and start again.")
MSG_COMPLETED = N_("Your registration is complete. You can now log in with your e-mail address "
                   "and your new password.")
MSG_NOT_ADMIN = N_("Only the admins of a company account can do this.")
MSG_NOT_SUPER_ADMIN = N_("Only a super admin of the company account can do this.")
MSG_NOT_FOUND = N_("This entry no longer exists. Please reload the list.")
MSG_ALREADY_DECIDED = N_("Another admin has already decided on this request.")
MSG_APPROVED = N_("The request of {name} has been approved. {name} receives an e-mail to "
                  "complete the registration.")
MSG_REJECTED = N_("The request of {name} has been rejected. {name} is informed by e-mail.")
MSG_REASON_LONG = N_("The reason may be at most 500 characters long.")
MSG_ROLE = N_("Please choose a role.")
MSG_ALREADY_MEMBER = N_("This person is already a member or has a pending request.")
MSG_ADDED = N_("{name} has been added. We have sent an e-mail to {email}.")
MSG_ROLE_CHANGED = N_("The role of {name} is now: {role}.")
MSG_REMOVED = N_("{name} has been removed from the company account.")
MSG_LAST_SUPER_ADMIN = N_("The last super admin of a company account cannot be removed or "
                          "changed. Make another member super admin first.")

ROLE_LABELS = {"super_admin": N_("Super admin"), "admin": N_("Admin"), "member": N_("Member")}
STATE_LABELS = {"active": N_("Active"), "invited": N_("Invited"),
                "approved": N_("Approved, completion pending")}


class AlreadyDecided(Conflict):
    """Another super admin decided this request a moment earlier."""

    code = "already_decided"


class LastSuperAdmin(Conflict):
    code = "last_super_admin"


# --------------------------------------------------------------------------- inputs


def _required(value: Any, max_len: int) -> str:
    checked = clean_text(value, required=True, max_len=max_len)
    assert checked is not None
    return checked


class CompanyInput(BaseModel):
    """Step 1: the applicant's e-mail and the company's customer number and postal code."""

    email: str
    customer_number: str
    postal_code: str

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        return normalize_email(value)

    @field_validator("customer_number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> str:
        return norm_number(_required(value, 64))

    @field_validator("postal_code", mode="before")
    @classmethod
    def _postal(cls, value: Any) -> str:
        return _required(value, 16)


class PersonInput(AddressChecks):
    """Step 2: names, privacy statement (required), marketing consent (optional)."""

    first_name: str
    last_name: str
    privacy: bool = False
    marketing: bool = False

    @field_validator("privacy", mode="before")
    @classmethod
    def _privacy(cls, value: Any) -> bool:
        if value is not True:
            raise field_problem(MSG_PRIVACY)
        return True

    @field_validator("marketing", mode="before")
    @classmethod
    def _marketing(cls, value: Any) -> bool:
        return bool(value)


class ContactInput(AddressChecks):
    """A contact an admin adds directly."""

    first_name: str
    last_name: str
    email: str
    role: str = "member"

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        return normalize_email(value)

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> str:
        if value not in ROLES:
            raise field_problem(MSG_ROLE)
        return str(value)


def _validate(model: type[BaseModel], data: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = field_errors(exc)
        if "privacy" in errors and errors["privacy"] != MSG_PRIVACY:
            errors["privacy"] = MSG_PRIVACY
        raise ValidationFailed(MSG_FORM, fields=errors) from None


def validate_company(data: Mapping[str, Any]) -> CompanyInput:
    """Step 1 checked field by field (ValidationFailed with every field error at once)."""
    return _validate(CompanyInput, data)


def validate_person(data: Mapping[str, Any]) -> PersonInput:
    return _validate(PersonInput, data)


# --------------------------------------------------------------------------- results


class CompanyMatch(BaseModel):
    email: str
    customer_number: str
    postal_code: str
    company: str


class Result(BaseModel):
    message: str
    params: dict[str, Any] = {}


class CodeResult(BaseModel):
    """``stage`` "waiting" (confirmed, waits for the super admin) or "complete" (go on to
    terms, privacy and password with ``finish``)."""

    stage: str
    email: str
    company: str
    finish: str | None = None
    message: str = ""
    params: dict[str, Any] = {}


class Organisation(BaseModel):
    customer_id: int
    number: str
    company: str
    role: str


class PendingRequest(BaseModel):
    id: int
    name: str
    email: str
    customer_number: str
    created_at: dt.datetime


class RequestPage(BaseModel):
    items: list[PendingRequest]
    total: int
    #: Keyset cursor of the next page (created_at, id), None on the last page.
    next_after: tuple[dt.datetime, int] | None = None


class Member(BaseModel):
    id: int
    name: str
    email: str
    role: str
    state: str
    since: dt.datetime
    is_self: bool = False


class HousekeepingReport(BaseModel):
    reminded: int = 0
    expired: int = 0


# --------------------------------------------------------------------------- helpers


def _name(account: Account | None, fallback: str = "") -> str:
    return sessions.display_name(account) if account is not None else fallback


def _company_name(customer: Customer) -> str:
    return customer.company or " ".join(
        p for p in (customer.first_name, customer.last_name) if p) or customer.number


def _find_company(db: DbSession, number: str, postal_code: str) -> Customer | None:
    """The company record for number + postal code, else None (same work either way)."""
    customer = db.scalars(select(Customer).where(Customer.number == number)).first()
    if (customer is None or customer.type != "company" or customer.merged_into_id is not None
            or postal_key(customer.postal_code) != postal_key(postal_code)):
        return None
    return customer


def _terminal(caller: Caller) -> str:
    return (caller.terminal_id or "local")[:128]


def _lock_company(db: DbSession, backend: Backend, customer_id: int) -> None:
    """Serialise changes to one company's members: FOR UPDATE on PostgreSQL, the write lock
    (a no-op update) on SQLite."""
    db.execute(lock_rows(db, Customer, Customer.id == customer_id))


def _issue(db: DbSession, backend: Backend, account: Account, purpose: str) -> tuple[str, str]:
    """A mailed code (and link token); completion codes stay valid for ``COMPLETE_VALID``."""
    code, link = issue_token(db, backend, account, purpose)
    if purpose == PURPOSE_COMPLETE:
        db.flush()
        db.execute(update(EmailToken).where(
            EmailToken.account_id == account.id, EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
        ).values(expires_at=backend.now() + COMPLETE_VALID))
    return code, link


def _super_admins(db: DbSession, customer_id: int) -> list[Account]:
    return list(db.scalars(select(Account).join(Membership, Membership.account_id == Account.id)
                           .where(Membership.customer_id == customer_id,
                                  Membership.role == "super_admin",
                                  Membership.state == "active",
                                  Account.status == "active")
                           .order_by(Account.id)))


def _record_super_admins(db: DbSession, customer_id: int) -> list[str]:
    """Addresses of super admins known from the records without an active portal account."""
    return list(db.scalars(select(Membership.email_key).where(
        Membership.customer_id == customer_id, Membership.role == "super_admin",
        Membership.state.in_(("approved", "invited")),
    ).order_by(Membership.id)))


def _notify_super_admins(db: DbSession, backend: Backend, customer: Customer, template: str,
                         params: dict[str, Any], *, records_template: str | None = None) -> int:
    """Mail the company's super admins; with ``records_template`` also those known only from
    the records (how to create an account or log in to decide). Returns how many were told."""
    admins = _super_admins(db, customer.id)
    common = {"company": _company_name(customer), "number": customer.number, **params}
    for admin in admins:
        if admin.email:
            mail.enqueue(db, to=admin.email, template=template, language=admin.language,
                         params={"name": _name(admin), **common})
    addresses = _record_super_admins(db, customer.id) if records_template else []
    for address in addresses:
        mail.enqueue(db, to=address, template=records_template or "",
                     language=backend.settings.language,
                     params={"address": address, "url": backend.settings.public_url, **common})
    return len(admins) + len(addresses)


def _drop_stub(db: DbSession, membership: Membership) -> None:
    """Forget the stub account of an applicant who never completed the registration."""
    account_id = membership.account_id
    membership.account_id = None
    if account_id is None:
        return
    db.flush()
    account = db.get(Account, account_id)
    if account is None or account.status not in STUB_STATES:
        return
    if db.scalar(select(Membership.id).where(Membership.account_id == account_id)):
        return
    db.execute(delete(EmailToken).where(EmailToken.account_id == account_id))
    db.execute(delete(Consent).where(Consent.account_id == account_id))
    db.execute(delete(Session).where(Session.account_id == account_id))
    db.delete(account)


def _stub_and_membership(db: DbSession, address: str) -> tuple[Account, Membership] | None:
    """The stub account of an applicant and its live membership, else None."""
    account = db.scalars(select(Account).where(Account.email_key == email_key(address))).first()
    if account is None or account.status not in STUB_STATES:
        return None
    membership = db.scalars(select(Membership).where(
        Membership.account_id == account.id,
        Membership.state.in_(("pending_email", "approved", "invited", "pending_approval")),
    ).order_by(Membership.id.desc())).first()
    return (account, membership) if membership is not None else None


def _reason(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text_ = unicodedata.normalize("NFKC", value).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text_ if ch != "\n"):
        raise ValidationFailed(MSG_CONTROL, fields={"reason": MSG_CONTROL})
    if len(text_) > MAX_REASON:
        raise ValidationFailed(MSG_REASON_LONG, fields={"reason": MSG_REASON_LONG})
    return text_


# --------------------------------------------------------------------------- self-registration


def _check(db: DbSession, backend: Backend, form: CompanyInput, caller: Caller) -> Customer:
    """The matching company, or the neutral message (the failure counted and committed)."""
    now = backend.now()
    state = throttle.check(db, ACTION_CHECK, "terminal", _terminal(caller), TERMINAL_POLICY, now)
    if not state.allowed(now):
        raise Throttled(throttle.MSG_TERMINAL_WAIT, params={"seconds": state.wait_seconds(now)})
    customer = _find_company(db, form.customer_number, form.postal_code)
    if customer is None:
        throttle.fail(db, ACTION_CHECK, "terminal", _terminal(caller), TERMINAL_POLICY, now)
        audit.record(db, "org_register_check", outcome="failed", terminal_id=caller.terminal_id,
                     now=now)
        raise_after_commit(db, DomainError(MSG_MISMATCH, code="org_mismatch"))
    assert customer is not None
    return customer


@text_input()
def check_company(backend: Backend, data: Mapping[str, Any], caller: Caller) -> CompanyMatch:
    """Step 1: number + postal code must match a company record (neutral message otherwise,
    limited per terminal)."""
    form = validate_company(data)
    with backend.transaction() as db:
        customer = _check(db, backend, form, caller)
        audit.record(db, "org_register_check", customer_id=customer.id,
                     terminal_id=caller.terminal_id, now=backend.now())
        return CompanyMatch(email=form.email, customer_number=form.customer_number,
                            postal_code=form.postal_code, company=_company_name(customer))


@equal_time
@text_input()
def submit_registration(backend: Backend, data: Mapping[str, Any], caller: Caller) -> Result:
    """Step 2: create the request (a stub account without password, the membership waiting for
    the e-mail confirmation, the consents) and mail the confirmation code. An address that
    already has an account gets the same answer, and its owner a mail instead."""
    errors: dict[str, str] = {}
    company = person = None
    for validate, part in ((validate_company, "company"), (validate_person, "person")):
        try:
            if part == "company":
                company = validate(data)
            else:
                person = validate(data)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(MSG_FORM, fields=errors)
    assert isinstance(company, CompanyInput) and isinstance(person, PersonInput)
    result = Result(message=MSG_REGISTERED, params={"email": company.email})
    for _attempt in range(3):
        try:
            _submit_once(backend, company, person, caller)
            return result
        except IntegrityError:
            continue  # a simultaneous registration of the same address won
    return result


def _submit_once(backend: Backend, form: CompanyInput, person: PersonInput, caller: Caller
                 ) -> None:
    now = backend.now()
    settings = backend.settings
    with backend.transaction() as db:
        customer = _check(db, backend, form, caller)
        key = email_key(form.email)
        existing = db.scalars(select(Account).where(Account.email_key == key)).first()
        if existing is not None:
            pending = _stub_and_membership(db, form.email)
            if pending is not None and pending[1].state == "pending_email" \
                    and pending[1].customer_id == customer.id:
                code, link = _issue(db, backend, existing, PURPOSE_CONFIRM)
                _mail_confirm(db, backend, existing, customer, code, link, caller.language)
                outcome = "repeated"
            else:
                mail.enqueue(db, to=existing.email or form.email, template="org_account_exists",
                             language=existing.language or caller.language,
                             params={"name": _name(existing), "company": _company_name(customer)})
                outcome = "duplicate"
            audit.record(db, "org_registration", outcome=outcome, actor_id=existing.id,
                         customer_id=customer.id, terminal_id=caller.terminal_id, now=now)
            return
        account = Account(kind="customer", email=form.email, email_key=key,
                          first_name=person.first_name, last_name=person.last_name,
                          customer_type="company", language=caller.language,
                          status="pending_approval", created_at=now)
        db.add(account)
        db.flush()
        row = db.scalars(select(Membership).where(Membership.customer_id == customer.id,
                                                  Membership.email_key == key)).first()
        # imported by the back office without an account: already approved, role kept
        preapproved = row is not None and row.account_id is None and row.state == "approved"
        membership = row if preapproved and row is not None else _reuse_or_new(db, customer.id, key)
        membership.account_id = account.id
        if not preapproved:
            membership.role = "member"
            membership.state = "pending_email"
            membership.created_at = now
        for kind, granted, version in (("privacy", True, settings.privacy_version),
                                       ("marketing", person.marketing, settings.marketing_version)):
            db.add(Consent(account_id=account.id, kind=kind, granted=granted,
                           text_version=version, terminal_id=caller.terminal_id, created_at=now))
        if preapproved:  # the completion code proves the address as well
            code, link = _issue(db, backend, account, PURPOSE_COMPLETE)
            _mail_complete(db, backend, account, customer, code, link)
        else:
            code, link = _issue(db, backend, account, PURPOSE_CONFIRM)
            _mail_confirm(db, backend, account, customer, code, link, caller.language)
        audit.record(db, "org_registration", actor_id=account.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, marketing=person.marketing,
                     preapproved=preapproved, now=now)


def _reuse_or_new(db: DbSession, customer_id: int, key: str) -> Membership:
    """The company's row for this address if it is over (rejected, expired, removed) or was
    imported without an account, reset; else a new row (the unique constraint guards a live
    one)."""
    row = db.scalars(select(Membership).where(Membership.customer_id == customer_id,
                                              Membership.email_key == key)).first()
    if row is not None and row.state in LIVE_STATES and row.account_id is not None:
        raise IntegrityError("membership", None, Exception("live membership"))
    if row is None:
        row = Membership(customer_id=customer_id, email_key=key)
        db.add(row)
    row.reason = None
    row.decided_by_id = None
    row.decided_at = None
    row.reminded_at = None
    return row


def _mail_confirm(db: DbSession, backend: Backend, account: Account, customer: Customer,
                  code: str, link: str, language: str) -> None:
    mail.enqueue(db, to=account.email or "", template="org_confirm", language=language,
                 params={"code": code, "link": public_url(backend, "org/confirm", link),
                         "name": _name(account), "company": _company_name(customer)})


def _mail_complete(db: DbSession, backend: Backend, account: Account, customer: Customer,
                   code: str, link: str) -> None:
    mail.enqueue(db, to=account.email or "", template="org_complete", language=account.language,
                 params={"code": code, "link": public_url(backend, "org/complete", link),
                         "name": _name(account), "company": _company_name(customer),
                         "days": COMPLETE_VALID.days})


@equal_time
@text_input()
def redeem_code(backend: Backend, email: str, code: str, caller: Caller) -> CodeResult:
    """The code from a mail, entered at the kiosk: the confirmation code (the request goes to
    the super admins) or the completion code (returns a ``finish`` token for 30 minutes)."""
    fields = {}
    if not (email or "").strip():
        fields["email"] = MSG_REQUIRED
    if not (code or "").strip():
        fields["code"] = MSG_REQUIRED
    if fields:
        raise ValidationFailed(MSG_FORM, fields=fields)
    now = backend.now()
    invalid = ValidationFailed(MSG_CODE_INVALID, fields={"code": MSG_CODE_INVALID})
    with backend.transaction() as db:
        found = _stub_and_membership(db, email)
        if found is None or found[1].state == "pending_approval":
            audit.record(db, "org_code", outcome="failed", terminal_id=caller.terminal_id,
                         reason="no_pending", now=now)
            raise_after_commit(db, invalid)
        assert found is not None
        account, membership = found
        purpose = PURPOSE_CONFIRM if membership.state == "pending_email" else PURPOSE_COMPLETE
        if check_code(db, backend, account, purpose, code) is None:
            audit.record(db, "org_code", outcome="failed", actor_id=account.id,
                         customer_id=membership.customer_id, terminal_id=caller.terminal_id,
                         purpose=purpose, now=now)
            raise_after_commit(db, invalid)
        return _code_accepted(db, backend, account, membership, purpose, caller)


@text_input()
def redeem_link(backend: Backend, link_token: str, caller: Caller) -> CodeResult:
    """The web variant of ``redeem_code``: the token from the mailed link ("Bestätigen")."""
    now = backend.now()
    with backend.transaction() as db:
        live = live_link_token(db, backend, link_token, now)
        found = _stub_and_membership(db, live[1].email or "") if live is not None else None
        purpose = None
        if found is not None:
            purpose = PURPOSE_CONFIRM if found[1].state == "pending_email" else PURPOSE_COMPLETE
        if (live is None or found is None or found[1].state == "pending_approval"
                or live[0].purpose != purpose or not use_token(db, live[0], now)):
            audit.record(db, "org_code", outcome="failed", terminal_id=caller.terminal_id,
                         via="link", now=now)
            raise_after_commit(db, ValidationFailed(MSG_CODE_INVALID,
                                                    fields={"code": MSG_CODE_INVALID}))
        assert found is not None and purpose is not None
        return _code_accepted(db, backend, found[0], found[1], purpose, caller)


def _code_accepted(db: DbSession, backend: Backend, account: Account, membership: Membership,
                   purpose: str, caller: Caller) -> CodeResult:
    """After a valid code or link: confirmed (to the super admins) or completion started."""
    now = backend.now()
    customer = db.get(Customer, membership.customer_id)
    assert customer is not None
    result = CodeResult(stage="complete", email=account.email or "",
                        company=_company_name(customer))
    if purpose == PURPOSE_CONFIRM:
        membership.state = "pending_approval"
        membership.created_at = now
        account.verified_at = now
        count = _notify_super_admins(db, backend, customer, "org_request_notify",
                                     {"applicant": _name(account),
                                      "email": account.email or ""},
                                     records_template="org_request_notify_records")
        # nobody to decide: the desk's queue of organisation requests lists it at once
        audit.record(db, "org_request_confirmed", actor_id=account.id,
                     customer_id=customer.id, terminal_id=caller.terminal_id,
                     notified=count, to_desk=count == 0, now=now)
        result.stage = "waiting"
        result.message = MSG_WAITING if count else MSG_WAITING_DESK
        return result
    result.finish, _link = issue_token(db, backend, account, PURPOSE_FINISH)
    audit.record(db, "org_completion_started", actor_id=account.id, customer_id=customer.id,
                 terminal_id=caller.terminal_id, now=now)
    return result


@equal_time
@text_input()
def resend_code(backend: Backend, email: str, caller: Caller) -> Result:
    """A new confirmation or completion code, at most once a minute; always the same answer."""
    if not (email or "").strip():
        raise ValidationFailed(MSG_REQUIRED, fields={"email": MSG_REQUIRED})
    now = backend.now()
    with backend.transaction() as db:
        wait = request_allowed(db, backend, "org_resend", email)
        if wait:
            raise_after_commit(db, Throttled(MSG_RESEND_WAIT, fields={"code": MSG_RESEND_WAIT},
                                             params={"seconds": wait}))
        found = _stub_and_membership(db, email)
        if found is None or found[1].state == "pending_approval":
            return Result(message=MSG_RESENT)
        account, membership = found
        customer = db.get(Customer, membership.customer_id)
        assert customer is not None
        if membership.state == "pending_email":
            code, link = _issue(db, backend, account, PURPOSE_CONFIRM)
            _mail_confirm(db, backend, account, customer, code, link, caller.language)
        else:
            code, link = _issue(db, backend, account, PURPOSE_COMPLETE)
            _mail_complete(db, backend, account, customer, code, link)
        audit.record(db, "org_code_resent", actor_id=account.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, state=membership.state, now=now)
    return Result(message=MSG_RESENT)


@text_input()
def complete_registration(backend: Backend, email: str, finish: str, data: Mapping[str, Any],
                          caller: Caller) -> Result:
    """Terms, privacy statement and the new password: the account becomes active."""
    password = str(data.get("password") or "")
    fields: dict[str, str] = {}
    if data.get("terms") is not True:
        fields["terms"] = MSG_TERMS
    if data.get("privacy") is not True:
        fields["privacy"] = MSG_PRIVACY
    with backend.transaction() as db:
        found = _stub_and_membership(db, email)
        names = (found[0].first_name, found[0].last_name) if found else (None, None)
    problems = check_password(password, email=email, first_name=names[0], last_name=names[1])
    if problems:
        fields["password"] = problems[0]
    if password and data.get("password_confirm") != password:
        fields["password_confirm"] = MSG_CONFIRM
    if fields:
        raise ValidationFailed(next(iter(fields.values())) if len(fields) == 1 else MSG_FORM,
                               fields=fields)
    password_hash = backend.hasher.hash(prepare_password(password))
    now = backend.now()
    settings = backend.settings
    with backend.transaction() as db:
        found = _stub_and_membership(db, email)
        if found is None or found[1].state not in ("approved", "invited") or check_code(
                db, backend, found[0], PURPOSE_FINISH, finish) is None:
            audit.record(db, "org_completion", outcome="failed", terminal_id=caller.terminal_id,
                         now=now)
            raise_after_commit(db, DomainError(MSG_FINISH_EXPIRED, code="finish_expired"))
        assert found is not None
        account, membership = found
        account.password_hash = password_hash
        account.password_changed_at = now
        account.status = "active"
        account.verified_at = account.verified_at or now
        membership.state = "active"
        for kind, version in (("terms", settings.terms_version),
                              ("privacy", settings.privacy_version)):
            db.add(Consent(account_id=account.id, kind=kind, granted=True, text_version=version,
                           terminal_id=caller.terminal_id, created_at=now))
        audit.record(db, "org_completion", actor_id=account.id,
                     customer_id=membership.customer_id, terminal_id=caller.terminal_id,
                     role=membership.role, now=now)
    return Result(message=MSG_COMPLETED, params={"email": email})


# --------------------------------------------------------------------------- admins


def _admin(db: DbSession, backend: Backend, token: str | None, customer_id: int,
           roles: tuple[str, ...] = ADMIN_ROLES, *, recent: bool = False, lock: bool = False
           ) -> tuple[Session, Account, Membership]:
    """The session's account and its active admin membership of ``customer_id``. With
    ``lock``, changes to the company's members are serialised first, so the admin's own
    membership is read after any change that committed meanwhile."""
    row, account = (sessions.live_recent if recent else sessions.live)(db, backend, token)
    if lock:
        _lock_company(db, backend, customer_id)
    membership = db.scalars(select(Membership).where(
        Membership.customer_id == customer_id, Membership.account_id == account.id,
        Membership.state == "active").execution_options(populate_existing=True)).first()
    if membership is None or membership.role not in roles:
        msg = MSG_NOT_SUPER_ADMIN if roles == ("super_admin",) else MSG_NOT_ADMIN
        audit.record(db, "org_refused", outcome="forbidden", actor_id=account.id,
                     customer_id=customer_id, terminal_id=row.terminal_id, now=backend.now())
        raise_after_commit(db, NotAllowed(msg))
    assert membership is not None
    return row, account, membership


def my_organisations(backend: Backend, token: str | None) -> list[Organisation]:
    """The company accounts the session's account administers (super admin or admin)."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        rows = db.execute(select(Customer, Membership.role).join(
            Membership, Membership.customer_id == Customer.id).where(
            Membership.account_id == account.id, Membership.state == "active",
            Membership.role.in_(ADMIN_ROLES)).order_by(Customer.company, Customer.id)).all()
        return [Organisation(customer_id=c.id, number=c.number, company=_company_name(c),
                             role=role) for c, role in rows]


def pending_requests(backend: Backend, token: str | None, customer_id: int, *,
                     after: tuple[dt.datetime, int] | None = None, limit: int = PAGE_SIZE,
                     with_total: bool = True) -> RequestPage:
    """One page of the company's approvals queue, oldest first (keyset paging on
    ``ix_membership_customer_state``); super admins only."""
    limit = max(1, min(limit, 200))
    with backend.transaction() as db:
        _admin(db, backend, token, customer_id, ("super_admin",))
        where = [Membership.customer_id == customer_id, Membership.state == "pending_approval"]
        query = (select(Membership.id, Membership.created_at, Membership.email_key,
                        Account.first_name, Account.last_name, Account.email)
                 .outerjoin(Account, Account.id == Membership.account_id).where(*where))
        if after is not None:
            # the first condition is the index range; the second skips the rows already seen
            query = query.where(Membership.created_at >= after[0],
                                or_(Membership.created_at > after[0], Membership.id > after[1]))
        rows = db.execute(query.order_by(Membership.created_at, Membership.id)
                          .limit(limit + 1)).all()
        total = db.scalar(select(func.count()).select_from(Membership).where(*where)) \
            if with_total else -1
        number = db.scalar(select(Customer.number).where(Customer.id == customer_id)) or ""
    items = [PendingRequest(id=r.id, name=" ".join(p for p in (r.first_name, r.last_name) if p),
                            email=r.email or r.email_key, customer_number=number,
                            created_at=r.created_at) for r in rows[:limit]]
    next_after = (items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return RequestPage(items=items, total=total or 0, next_after=next_after)


def members(backend: Backend, token: str | None, customer_id: int) -> list[Member]:
    """Members of the company (active, invited, approved), super admins first."""
    order = {role: i for i, role in enumerate(ROLES)}
    with backend.transaction() as db:
        _row, me, _m = _admin(db, backend, token, customer_id)
        rows = db.execute(select(Membership, Account).outerjoin(
            Account, Account.id == Membership.account_id).where(
            Membership.customer_id == customer_id,
            Membership.state.in_(MEMBER_STATES))).all()
        result = [Member(id=m.id, name=_name(a), email=(a.email if a else None) or m.email_key,
                         role=m.role, state=m.state, since=m.decided_at or m.created_at,
                         is_self=a is not None and a.id == me.id) for m, a in rows]
    return sorted(result, key=lambda m: (order.get(m.role, 9), m.name.casefold(), m.id))


@text_input()
def decide(backend: Backend, token: str | None, customer_id: int, membership_id: int,
           approve: bool, reason: str | None, caller: Caller) -> Result:
    """Approve or reject a pending request; the first decision wins (conditional update)."""
    reason_text = _reason(reason)
    now = backend.now()
    with backend.transaction() as db:
        row, admin, _m = _admin(db, backend, token, customer_id, ("super_admin",), lock=True)
        state = "approved" if approve else "rejected"
        changed = db.execute(update(Membership).where(
            Membership.id == membership_id, Membership.customer_id == customer_id,
            Membership.state == "pending_approval",
        ).values(state=state, reason=reason_text, decided_by_id=admin.id, decided_at=now)
        ).rowcount
        if changed != 1:
            exists = db.scalar(select(Membership.id).where(
                Membership.id == membership_id, Membership.customer_id == customer_id))
            audit.record(db, "org_request_decided", outcome="conflict" if exists else "missing",
                         actor_id=admin.id, customer_id=customer_id,
                         terminal_id=row.terminal_id, now=now)
            raise_after_commit(db, AlreadyDecided(MSG_ALREADY_DECIDED) if exists
                               else NotFound(MSG_NOT_FOUND))
        membership = db.get(Membership, membership_id, populate_existing=True)
        customer = db.get(Customer, customer_id)
        assert membership is not None and customer is not None
        account = db.get(Account, membership.account_id) if membership.account_id else None
        name = _name(account, membership.email_key)
        if account is not None and approve:
            code, link = _issue(db, backend, account, PURPOSE_COMPLETE)
            _mail_complete(db, backend, account, customer, code, link)
        elif account is not None:
            mail.enqueue(db, to=account.email or membership.email_key, template="org_rejected",
                         language=account.language,
                         params={"name": name, "company": _company_name(customer),
                                 "reason": reason_text or "—"})
            _drop_stub(db, membership)
        audit.record(db, "org_request_decided", actor_id=admin.id, customer_id=customer_id,
                     terminal_id=row.terminal_id, decision=state, membership_id=membership_id,
                     with_reason=reason_text is not None, now=now)
    return Result(message=MSG_APPROVED if approve else MSG_REJECTED, params={"name": name})


@text_input()
def add_contact(backend: Backend, token: str | None, customer_id: int,
                data: Mapping[str, Any], caller: Caller) -> Result:
    """An admin adds a contact (name, e-mail, role): it gets the completion mail, or — with an
    existing account — joins at once."""
    form: ContactInput = _validate(ContactInput, data)
    now = backend.now()
    key = email_key(form.email)
    try:
        with backend.transaction() as db:
            row, admin, mine = _admin(db, backend, token, customer_id, recent=True, lock=True)
            if form.role == "super_admin" and mine.role != "super_admin":
                raise NotAllowed(MSG_NOT_SUPER_ADMIN, fields={"role": MSG_NOT_SUPER_ADMIN})
            customer = db.get(Customer, customer_id)
            assert customer is not None
            try:
                membership = _reuse_or_new(db, customer_id, key)
            except IntegrityError:
                raise ValidationFailed(MSG_ALREADY_MEMBER,
                                       fields={"email": MSG_ALREADY_MEMBER}) from None
            membership.role = form.role
            membership.decided_by_id = admin.id
            membership.decided_at = now
            membership.created_at = now
            account = db.scalars(select(Account).where(Account.email_key == key)).first()
            if account is not None and account.status not in STUB_STATES:
                membership.account_id = account.id
                membership.state = "active"
                mail.enqueue(db, to=account.email or form.email, template="org_added",
                             language=account.language,
                             params={"name": _name(account), "company": _company_name(customer)})
            elif account is not None:  # a stub of another company's request
                raise ValidationFailed(MSG_ALREADY_MEMBER, fields={"email": MSG_ALREADY_MEMBER})
            else:
                account = Account(kind="customer", email=form.email, email_key=key,
                                  first_name=form.first_name, last_name=form.last_name,
                                  customer_type="company", language=caller.language,
                                  status="invited", created_at=now)
                db.add(account)
                db.flush()
                membership.account_id = account.id
                membership.state = "invited"
                code, link = _issue(db, backend, account, PURPOSE_COMPLETE)
                _mail_complete(db, backend, account, customer, code, link)
            audit.record(db, "org_contact_added", actor_id=admin.id, customer_id=customer_id,
                         terminal_id=row.terminal_id, role=form.role, state=membership.state,
                         now=now)
            name = f"{form.first_name} {form.last_name}"
    except IntegrityError:
        raise ValidationFailed(MSG_ALREADY_MEMBER, fields={"email": MSG_ALREADY_MEMBER}) from None
    return Result(message=MSG_ADDED, params={"name": name, "email": form.email})


def _target(db: DbSession, customer_id: int, membership_id: int) -> Membership:
    membership = db.scalars(select(Membership).where(
        Membership.id == membership_id, Membership.customer_id == customer_id,
        Membership.state.in_(MEMBER_STATES)).execution_options(populate_existing=True)).first()
    if membership is None:
        raise NotFound(MSG_NOT_FOUND)
    return membership


def _other_super_admins(db: DbSession, customer_id: int, membership_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Membership).where(
        Membership.customer_id == customer_id, Membership.role == "super_admin",
        Membership.state == "active", Membership.id != membership_id)) or 0


@text_input()
def change_role(backend: Backend, token: str | None, customer_id: int, membership_id: int,
                role: str, caller: Caller) -> Result:
    """Set a member's role. Super admin roles are given and taken by super admins only; the
    last active super admin keeps the role."""
    if role not in ROLES:
        raise ValidationFailed(MSG_ROLE, fields={"role": MSG_ROLE})
    now = backend.now()
    with backend.transaction() as db:
        row, admin, mine = _admin(db, backend, token, customer_id, recent=True, lock=True)
        target = _target(db, customer_id, membership_id)
        if "super_admin" in (role, target.role) and mine.role != "super_admin":
            raise NotAllowed(MSG_NOT_SUPER_ADMIN)
        if target.role == "super_admin" and role != "super_admin" and \
                _other_super_admins(db, customer_id, target.id) == 0:
            raise LastSuperAdmin(MSG_LAST_SUPER_ADMIN)
        before = target.role
        target.role = role
        account = db.get(Account, target.account_id) if target.account_id else None
        audit.record(db, "org_role_changed", actor_id=admin.id, customer_id=customer_id,
                     terminal_id=row.terminal_id, membership_id=target.id, before=before,
                     after=role, now=now)
        name = _name(account, target.email_key)
    return Result(message=MSG_ROLE_CHANGED, params={"name": name, "role": role})


def remove_member(backend: Backend, token: str | None, customer_id: int, membership_id: int,
                  caller: Caller) -> Result:
    """Remove a member: its sessions end; the last super admin cannot be removed."""
    now = backend.now()
    with backend.transaction() as db:
        row, admin, mine = _admin(db, backend, token, customer_id, recent=True, lock=True)
        target = _target(db, customer_id, membership_id)
        if target.role == "super_admin" and mine.role != "super_admin":
            raise NotAllowed(MSG_NOT_SUPER_ADMIN)
        if target.role == "super_admin" and target.state == "active" and \
                _other_super_admins(db, customer_id, target.id) == 0:
            raise LastSuperAdmin(MSG_LAST_SUPER_ADMIN)
        account = db.get(Account, target.account_id) if target.account_id else None
        name = _name(account, target.email_key)
        target.state = "removed"
        target.decided_by_id = admin.id
        target.decided_at = now
        ended = sessions.end_all(db, account.id, "membership_removed", now) if account else 0
        if account is not None and account.status in STUB_STATES:
            _drop_stub(db, target)
        audit.record(db, "org_member_removed", actor_id=admin.id, customer_id=customer_id,
                     terminal_id=row.terminal_id, membership_id=target.id, sessions=ended,
                     now=now)
    return Result(message=MSG_REMOVED, params={"name": name})


# --------------------------------------------------------------------------- housekeeping


def housekeeping(backend: Backend) -> HousekeepingReport:
    """Remind the super admins of requests waiting 3 days (once), expire requests waiting 30
    days and unconfirmed ones after 7 days. Runs from the app's housekeeping timer."""
    now = backend.now()
    report = HousekeepingReport()
    with backend.transaction() as db:
        stale = list(db.scalars(select(Membership).where(
            or_(and_(Membership.state == "pending_approval",
                     Membership.created_at <= now - EXPIRE_AFTER),
                and_(Membership.state == "pending_email",
                     Membership.created_at <= now - UNCONFIRMED_AFTER)),
        ).order_by(Membership.id).limit(HOUSEKEEPING_BATCH)))
        for membership in stale:
            account = db.get(Account, membership.account_id) if membership.account_id else None
            customer = db.get(Customer, membership.customer_id)
            if membership.state == "pending_approval" and account is not None and customer:
                mail.enqueue(db, to=account.email or membership.email_key, template="org_expired",
                             language=account.language,
                             params={"name": _name(account), "company": _company_name(customer)})
            audit.record(db, "org_request_expired", actor_id=membership.account_id,
                         customer_id=membership.customer_id, state=membership.state, now=now)
            membership.state = "expired"
            membership.decided_at = now
            _drop_stub(db, membership)
            report.expired += 1
        due = list(db.scalars(select(Membership).where(
            Membership.state == "pending_approval", Membership.reminded_at.is_(None),
            Membership.created_at <= now - REMIND_AFTER,
        ).order_by(Membership.customer_id, Membership.id).limit(HOUSEKEEPING_BATCH)))
        by_company: dict[int, list[Membership]] = {}
        for membership in due:
            by_company.setdefault(membership.customer_id, []).append(membership)
        for customer_id, waiting in by_company.items():
            customer = db.get(Customer, customer_id)
            if customer is None:
                continue
            _notify_super_admins(db, backend, customer, "org_reminder",
                                 {"count": len(waiting)})
            for membership in waiting:
                membership.reminded_at = now
            audit.record(db, "org_request_reminder", customer_id=customer_id,
                         count=len(waiting), now=now)
            report.reminded += len(waiting)
    return report


__all__ = [
    "AlreadyDecided",
    "CodeResult",
    "CompanyMatch",
    "HousekeepingReport",
    "LastSuperAdmin",
    "Member",
    "Organisation",
    "PendingRequest",
    "RequestPage",
    "Result",
    "add_contact",
    "change_role",
    "check_company",
    "complete_registration",
    "decide",
    "housekeeping",
    "members",
    "my_organisations",
    "pending_requests",
    "redeem_code",
    "redeem_link",
    "remove_member",
    "resend_code",
    "submit_registration",
]
