"""Confirming a registration's e-mail address: the mailed code at the kiosk (``verify_email``),
the mailed link on the web (``verify_email_link``) and a new code (``resend_verification``, at
most once a minute, the count of wrong tries kept; its answer does not tell whether a
registration is pending and takes at least ``response_floor_ms``).

A confirmed address activates the account, claims the memberships the records hold for it, and
links the customer number given at registration when last name and postal code match the
customer record; otherwise an address review goes to the service desk.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.engine import for_update
from db.models import Account, Customer, CustomerLink, Membership, SupportRequest
from services import audit, mail
from services.accounts.common import (
    MSG_REQUIRED,
    RequestResult,
    _find_account,
    _name,
    _validation,
    raise_after_commit,
)
from services.accounts.forms import postal_key
from services.accounts.tokens import (
    MAX_CODE_TRIES,
    MSG_CODE_INVALID,
    MSG_RESEND_WAIT,
    PURPOSE_VERIFY,
    _carried_tries,
    check_code,
    issue_token,
    live_link_token,
    public_url,
    request_allowed,
    use_token,
)
from services.errors import N_, Throttled
from services.normalize import customer_number as norm_customer_number
from services.normalize import fold_name, nfkc, text_input
from services.timing import equal_time

if TYPE_CHECKING:
    from services.backend import Backend, Caller


MSG_CODE_DEAD = N_("Too many wrong codes were entered. Please request a new code in {minutes} minutes.")
MSG_RESENT = N_("If a confirmation is pending for this address, we have sent a new code.")
MSG_VERIFIED = N_("Your e-mail address is confirmed. You can now log in.")
MSG_LINKED = N_("Your customer number {number} is now linked to your account.")
MSG_ADDRESS_REVIEW = N_("Your address will be checked by hand. We will let you know by e-mail.")


class VerificationResult(BaseModel):
    account_id: int
    message: str = MSG_VERIFIED
    linked_customer_number: str | None = None
    address_review: bool = False
    notes: list[str] = []
    params: dict[str, Any] = {}


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
