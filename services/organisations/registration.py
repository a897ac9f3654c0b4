"""Self-registration of an employee with the company's account (guide 003, the first way in).

``check_company`` (e-mail, customer number and postal code of the company; a mismatch gets one
neutral message and counts against the terminal), ``submit_registration`` (names, privacy
statement, marketing consent; a stub account without password and a membership waiting for
the e-mail; mails a confirmation code), ``redeem_code`` / ``redeem_link`` (the confirmation
code sends the request to the company's super admins — or, with none, to the service desk;
the completion code starts ``services.organisations.completion``), ``resend_code``.
Answers that must not tell whether an address is known take at least ``response_floor_ms``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Consent, Customer, Membership
from services import audit, mail, throttle
from services.accounts.common import MSG_FORM, MSG_REQUIRED, raise_after_commit
from services.accounts.forms import (
    AddressChecks,
    clean_text,
    field_problem,
    normalize_email,
    postal_key,
)
from services.accounts.tokens import (
    MSG_CODE_INVALID,
    MSG_RESEND_WAIT,
    check_code,
    issue_token,
    live_link_token,
    public_url,
    request_allowed,
    use_token,
)
from services.caller import Caller
from services.errors import N_, DomainError, Throttled, ValidationFailed
from services.normalize import customer_number as norm_number
from services.normalize import email_key, text_input
from services.organisations.common import (
    MSG_PRIVACY,
    PURPOSE_COMPLETE,
    PURPOSE_CONFIRM,
    PURPOSE_FINISH,
    Result,
    _company_name,
    _issue,
    _name,
    _notify_super_admins,
    _reuse_or_new,
    _stub_and_membership,
    _validate,
)
from services.organisations.completion import _mail_complete
from services.timing import equal_time

if TYPE_CHECKING:
    from services.backend import Backend


ACTION_CHECK = "org_register"
# Per terminal: 5 mismatches within 30 minutes -> 1 min wait, doubling up to 30 min.
TERMINAL_POLICY = throttle.Policy(max_failures=5, window=dt.timedelta(minutes=30),
                                  base_wait=dt.timedelta(minutes=1),
                                  max_wait=dt.timedelta(minutes=30))

MSG_MISMATCH = N_("We could not find a company account with this customer number and postal "
                  "code. Please check both entries (you find the customer number on our quotes "
                  "and invoices).")
MSG_REGISTERED = N_("Your registration has been submitted. We have sent an e-mail with a "
                    "confirmation code to {email}. Please enter the code here.")
MSG_WAITING = N_("Thank you, your registration is confirmed. It now waits for the super admin "
                 "of your company account. You will receive an e-mail as soon as it has been "
                 "approved.")
MSG_WAITING_DESK = N_("Thank you, your registration is confirmed. Your company account has no "
                      "super admin we could reach, so our service desk decides on it. You will "
                      "receive an e-mail as soon as it has been decided.")
MSG_RESENT = N_("If a registration is pending for this address, we have sent a new code.")


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


def validate_company(data: Mapping[str, Any]) -> CompanyInput:
    """Step 1 checked field by field (ValidationFailed with every field error at once)."""
    return _validate(CompanyInput, data)


def validate_person(data: Mapping[str, Any]) -> PersonInput:
    return _validate(PersonInput, data)


class CompanyMatch(BaseModel):
    email: str
    customer_number: str
    postal_code: str
    company: str


class CodeResult(BaseModel):
    """``stage`` "waiting" (confirmed, waits for the super admin) or "complete" (go on to
    terms, privacy and password with ``finish``)."""

    stage: str
    email: str
    company: str
    finish: str | None = None
    message: str = ""
    params: dict[str, Any] = {}


def _find_company(db: DbSession, number: str, postal_code: str) -> Customer | None:
    """The company record for number + postal code, else None (same work either way)."""
    customer = db.scalars(select(Customer).where(Customer.number == number)).first()
    if (customer is None or customer.type != "company" or customer.merged_into_id is not None
            or postal_key(customer.postal_code) != postal_key(postal_code)):
        return None
    return customer


def _terminal(caller: Caller) -> str:
    return (caller.terminal_id or "local")[:128]


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


def _mail_confirm(db: DbSession, backend: Backend, account: Account, customer: Customer,
                  code: str, link: str, language: str) -> None:
    mail.enqueue(db, to=account.email or "", template="org_confirm", language=language,
                 params={"code": code, "link": public_url(backend, "org/confirm", link),
                         "name": _name(account), "company": _company_name(customer)})


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
