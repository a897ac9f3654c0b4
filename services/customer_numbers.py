"""Linking existing customer numbers to an account with the *Freischaltcode* (guide 000).

``link_customer_number(backend, token, code, number, caller)``:

1. the password must have been entered within ``reauth_valid`` (``ReauthRequired`` otherwise);
2. number and code are normalised (``normalize.customer_number``, ``crypto.normalize_code``:
   case, spaces, dashes, O/0 and I/L/1);
3. the attempt is reserved, and committed, before any code is compared
   (``throttle.reserve``): per customer number and account (5 wrong codes in 24 h freeze the
   number for that account until the service desk helps), per number and terminal (5, then
   that terminal waits out the 24 h), per number for everyone (30 in 24 h: the alarm level,
   closed for the rest of the 24 h and a desk request of kind ``guessing_alarm``), per account
   and per terminal across numbers. Someone else's wrong codes never freeze the owner's own
   account out (``services.throttle``, "Per-record limits");
4. the customer row is locked (``SELECT … FOR UPDATE`` on PostgreSQL, the write lock on
   SQLite), the code is compared as a keyed digest in constant time, must be within its
   validity date and unused; a wrong, expired or used code gives one neutral message;
5. the two conflicts of the guide (number taken by another account, the account already has a
   number of this type) raise ``LinkConflict``; ``request_link_support`` then queues a
   ``SupportRequest`` for the service desk (never with the code);
6. otherwise the link is written, the code used up, a mail queued and the event audited. The
   unique constraint on ``customer_link.customer_id`` is the final guard against a race.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.engine import lock_rows
from db.models import Account, ActivationCode, Customer, CustomerLink, SupportRequest
from services import audit, mail, sessions, throttle
from services.caller import Caller
from services.crypto import normalize_code
from services.errors import N_, Conflict, DomainError, NotFound, Throttled, ValidationFailed
from services.normalize import customer_number as norm_number
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

ACTION = "link_code"
# Per customer number and account (or terminal): 5 wrong codes within 24 h freeze the number
# for that account only (the service desk lifts it or issues a new code) and make that
# terminal wait out the 24 h; 30 from anyone are the alarm level (``throttle.record_policies``).
POLICIES = throttle.record_policies(per_record=5, alarm=30)
NUMBER_POLICY, NUMBER_TERMINAL_POLICY = POLICIES.actor_on_record, POLICIES.terminal_on_record
ALARM_POLICY, ACCOUNT_POLICY, TERMINAL_POLICY = POLICIES.alarm, POLICIES.actor, POLICIES.terminal
#: The desk request's subject at the alarm level (stored in English, shown translated).
SUBJECT_ALARM = N_("Many wrong Freischaltcodes for one customer number")

MSG_REQUIRED = N_("This field must not be empty.")
MSG_NEUTRAL = N_("The Freischaltcode and the customer number do not match, or the code is no "
                 "longer valid. Please check both entries.")
MSG_FROZEN = N_("Too many wrong Freischaltcodes were entered for this customer number. The "
                "code is blocked: please ask the service desk for a new Freischaltcode.")
MSG_TAKEN = N_("The customer number {number} is already assigned to another user. You can "
               "send a request to the service desk.")
MSG_TYPE_TAKEN = N_("A customer number of this type ({type}) is already assigned to your "
                    "account. You can send a request to the service desk.")
MSG_ALREADY_YOURS = N_("The customer number {number} is already linked to your account.")
MSG_LINKED = N_("The customer number {number} is now linked to your account.")
MSG_SUPPORT_SENT = N_("Your request was sent to the service desk (reference {reference}). "
                      "We will get back to you by e-mail.")
MSG_NOT_LINKED = N_("This customer number is not linked to your account.")
MSG_UNLINKED = N_("The customer number {number} is no longer linked to your account.")

KIND_TAKEN = "link_conflict_taken"
KIND_TYPE = "link_conflict_type"


class LinkFailed(DomainError):
    """Wrong, expired or used code, or an unknown number: one neutral message."""

    code = "link_failed"


class CodeFrozen(Throttled):
    """Too many wrong codes for this number: only the service desk can issue a new code."""

    code = "code_frozen"


class LinkConflict(Conflict):
    """A conflict of the guide; ``params["kind"]`` is the support request kind."""

    code = "link_conflict"


class LinkedNumber(BaseModel):
    number: str
    type: str
    name: str
    address: str
    linked_at: dt.datetime


class SupportResult(BaseModel):
    reference: int
    message: str = MSG_SUPPORT_SENT
    params: dict[str, str] = {}


# --------------------------------------------------------------------------- helpers


def _display_name(customer: Customer) -> str:
    person = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    if customer.company:
        return f"{customer.company} ({person})" if person else customer.company
    return person


def _address(customer: Customer) -> str:
    town = " ".join(p for p in (customer.postal_code, customer.city) if p)
    return ", ".join(p for p in (customer.street, town, customer.country) if p)


def _linked(customer: Customer, link: CustomerLink) -> LinkedNumber:
    return LinkedNumber(number=customer.number, type=customer.type,
                        name=_display_name(customer), address=_address(customer),
                        linked_at=link.linked_at)


def _account_name(account: Account) -> str:
    return sessions.display_name(account)


def _lock_customer(db: DbSession, number: str) -> tuple[Customer | None, list[ActivationCode]]:
    """The customer row, locked, with its codes in the same statement: ``FOR UPDATE OF
    customer`` on PostgreSQL; on SQLite a no-op write first takes the database write lock, so
    two links of one number run one after the other."""
    query = (select(Customer, ActivationCode)
             .outerjoin(ActivationCode, ActivationCode.customer_id == Customer.id)
             .where(Customer.number == number))
    rows = db.execute(lock_rows(db, Customer, Customer.number == number, query=query)).all()
    if not rows:
        return None, []
    return rows[0][0], [code for _customer, code in rows if code is not None]


def _matching_code(backend: Backend, codes: list[ActivationCode], code: str
                   ) -> ActivationCode | None:
    """The code whose digest equals the typed one (constant-time compare, every row)."""
    wanted = backend.digester.digest("activation", normalize_code(code))
    found: ActivationCode | None = None
    for row in codes:
        if backend.digester.same(row.code_digest, wanted):
            found = row
    return found


def _limits(info: sessions.SessionInfo, caller: Caller, number: str) -> list[throttle.Limit]:
    return throttle.record_limits(ACTION, number, f"a{info.account_id}",
                                  caller.terminal_id or "local", POLICIES)


def _validate(code: str, number: str) -> tuple[str, str]:
    fields = {}
    if not (code or "").strip():
        fields["code"] = MSG_REQUIRED
    if not (number or "").strip():
        fields["number"] = MSG_REQUIRED
    if fields:
        raise ValidationFailed(MSG_REQUIRED, fields=fields)
    return normalize_code(code), norm_number(number)


def _reserve(backend: Backend, token: str | None, caller: Caller, number: str
             ) -> tuple[sessions.SessionInfo, throttle.Reservation]:
    """The session (password entered recently) and the attempt reserved on the number's
    counters, committed before any code is compared (``throttle`` doc); refusals raise."""
    now = backend.now()
    with backend.transaction() as db:
        session_row, account = sessions.live_recent(db, backend, token)
        info = sessions.info(session_row, account)
        reservation = throttle.reserve(db, _limits(info, caller, number), now)
        if not reservation.granted:
            kind, message, params = throttle.refusal(reservation, now)
            audit.record(db, "customer_link", outcome="throttled", actor_id=info.account_id,
                         terminal_id=caller.terminal_id, reason=kind, number=number[:32],
                         now=now)
            db.commit()
            if kind == "frozen":
                raise CodeFrozen(MSG_FROZEN, fields={"code": MSG_FROZEN})
            error = CodeFrozen if kind in ("alarm", "record") else Throttled
            raise error(message, fields={"code": message}, params=params)
    return info, reservation


def _verify(db: DbSession, backend: Backend, info: sessions.SessionInfo, caller: Caller,
            code: str, number: str, customer: Customer | None, codes: list[ActivationCode],
            reservation: throttle.Reservation) -> tuple[Customer, ActivationCode]:
    """Check the code of the locked customer. Right: the reservation is given back. Wrong:
    it stays counted; audited (the alarm level opens a desk request), committed, raised."""
    now = backend.now()
    row = None
    reason = "unknown_number"
    if customer is None or customer.merged_into_id is not None:
        backend.digester.digest("activation", code)  # the same work as for a known number
    else:
        row = _matching_code(backend, codes, code)
        today = now.date()
        if row is None:
            reason = "wrong_code"
        elif row.revoked_at is not None:
            reason = "revoked"
        elif row.used_at is not None and _conflict(db, info.account_id, customer) is None:
            reason = "used"  # used and linked to nobody now: neutral; linked: the conflict
        elif row.valid_until is not None and row.valid_until < today:
            reason = "expired"
        else:
            reason = ""
    if not reason and customer is not None and row is not None:
        throttle.succeeded(db, reservation.limits, now)
        return customer, row
    cid = customer.id if customer is not None else None
    audit.record(db, "customer_link", outcome="failed", actor_id=info.account_id,
                 customer_id=cid, terminal_id=caller.terminal_id, reason=reason,
                 number=number[:32], now=now)
    throttle.raise_alarm(db, reservation, subject=SUBJECT_ALARM, customer_id=cid,
                         account_id=info.account_id, terminal=caller.terminal_id, now=now)
    if reservation.status("record_actor").frozen:
        audit.record(db, "activation_code_frozen", actor_id=info.account_id, customer_id=cid,
                     terminal_id=caller.terminal_id, number=number[:32], now=now)
        db.commit()
        raise CodeFrozen(MSG_FROZEN, fields={"code": MSG_FROZEN})
    db.commit()
    raise LinkFailed(MSG_NEUTRAL, fields={"code": MSG_NEUTRAL})


def _conflict(db: DbSession, account_id: int, customer: Customer) -> str | None:
    """"mine", a support request kind, or None — both rules of the guide in one query."""
    rows = db.execute(select(CustomerLink.account_id, CustomerLink.customer_id).where(or_(
        CustomerLink.customer_id == customer.id,
        and_(CustomerLink.account_id == account_id,
             CustomerLink.customer_type == customer.type)))).all()
    for owner, customer_id in rows:
        if customer_id == customer.id:
            return "mine" if owner == account_id else KIND_TAKEN
    return KIND_TYPE if rows else None


def _raise_conflict(kind: str, customer: Customer) -> None:
    params = {"number": customer.number, "type": customer.type, "kind": kind}
    if kind == "mine":
        raise Conflict(MSG_ALREADY_YOURS, code="already_linked", params=params)
    message = MSG_TAKEN if kind == KIND_TAKEN else MSG_TYPE_TAKEN
    raise LinkConflict(message, params=params)


# --------------------------------------------------------------------------- services


@text_input()
def link_customer_number(backend: Backend, token: str | None, code: str, number: str,
                         caller: Caller) -> LinkedNumber:
    """Link ``number`` to the session's account with its Freischaltcode (see module doc)."""
    code, number = _validate(code, number)
    info, reservation = _reserve(backend, token, caller, number)
    for attempt in range(3):
        try:
            return _link_once(backend, token, caller, code, number, reservation)
        except IntegrityError:  # another account won the race a moment ago
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _link_once(backend: Backend, token: str | None, caller: Caller, code: str,
               number: str, reservation: throttle.Reservation) -> LinkedNumber:
    now = backend.now()
    with backend.transaction() as db:
        # The account object is kept (the identity map holds it weakly: dropping it here
        # would cost a second SELECT for the mail below). The session's last-seen update
        # waits for the one flush at commit.
        with db.no_autoflush:
            found, codes = _lock_customer(db, number)
            session_row, account = sessions.live_recent(db, backend, token)
            info = sessions.info(session_row, account)
            customer, row = _verify(db, backend, info, caller, code, number, found, codes,
                                    reservation)
            kind = _conflict(db, info.account_id, customer)
        if kind:
            audit.record(db, "customer_link", outcome="conflict", actor_id=info.account_id,
                         customer_id=customer.id, terminal_id=caller.terminal_id, reason=kind,
                         now=now)
            db.commit()
            _raise_conflict(kind, customer)
        # Written in the single flush at commit; the unique constraints there are the
        # final guard against a race (IntegrityError: ``link_customer_number`` retries).
        link = CustomerLink(account_id=account.id, customer_id=customer.id,
                            customer_type=customer.type, linked_at=now, linked_by="code")
        db.add(link)
        row.used_at = now
        audit.record(db, "customer_linked", actor_id=account.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, via="code", number=customer.number,
                     now=now)
        if account.email:
            mail.enqueue(db, to=account.email, template="customer_number_added",
                         language=account.language,
                         params={"name": _account_name(account), "number": customer.number})
        return _linked(customer, link)


@text_input()
def request_link_support(backend: Backend, token: str | None, code: str, number: str,
                         caller: Caller) -> SupportResult:
    """After a ``LinkConflict``: queue a request for the service desk (never with the code).

    The code is checked again (so only the holder of a valid code can ask; the attempt is
    reserved like a link); an open request of the same kind for the same account and number
    is not duplicated.
    """
    code, number = _validate(code, number)
    _info, reservation = _reserve(backend, token, caller, number)
    now = backend.now()
    with backend.transaction() as db:
        found, codes = _lock_customer(db, number)
        session_row, account = sessions.live_recent(db, backend, token)
        info = sessions.info(session_row, account)
        customer, _row = _verify(db, backend, info, caller, code, number, found, codes,
                                 reservation)
        kind = _conflict(db, info.account_id, customer)
        if kind is None or kind == "mine":
            db.commit()  # the right code: its reservation stays given back
            raise NotFound(N_("There is no conflict for this customer number any more. "
                              "Please try linking it again."))
        existing = db.scalars(select(SupportRequest).where(
            SupportRequest.kind == kind, SupportRequest.status == "open",
            SupportRequest.account_id == info.account_id,
            SupportRequest.customer_id == customer.id)).first()
        if existing is not None:
            return SupportResult(reference=existing.id, params={"reference": str(existing.id)})
        details: dict[str, object] = {
            "customer_number": customer.number, "customer_type": customer.type,
            "customer_name": _display_name(customer), "customer_address": _address(customer),
            "account_username": account.username, "account_email": account.email,
            "account_name": _account_name(account), "account_type": account.customer_type,
            "terminal": caller.terminal_id, "code_checked": True,
        }
        if kind == KIND_TAKEN:
            owner = db.scalar(select(CustomerLink.account_id).where(
                CustomerLink.customer_id == customer.id))
            details["linked_account_id"] = owner
        else:
            held = db.scalars(select(Customer.number).join(
                CustomerLink, CustomerLink.customer_id == Customer.id).where(
                CustomerLink.account_id == account.id,
                CustomerLink.customer_type == customer.type)).all()
            details["numbers_of_this_type"] = list(held)
        subject = ("Customer number already assigned to another user" if kind == KIND_TAKEN
                   else "Account already has a customer number of this type")
        request = SupportRequest(kind=kind, status="open", account_id=account.id,
                                 customer_id=customer.id, subject=subject,
                                 details={k: v for k, v in details.items() if v is not None},
                                 created_at=now, updated_at=now)
        db.add(request)
        db.flush()
        audit.record(db, "support_request", actor_id=account.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, kind=kind, reference=request.id, now=now)
        if account.email:
            mail.enqueue(db, to=account.email, template="support_request_sent",
                         language=account.language,
                         params={"name": _account_name(account), "reference": str(request.id),
                                 "subject": subject})
        return SupportResult(reference=request.id, params={"reference": str(request.id)})


def linked_numbers(backend: Backend, token: str | None) -> list[LinkedNumber]:
    """The numbers linked to the session's account, oldest link first."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        rows = db.execute(
            select(Customer, CustomerLink).join(CustomerLink,
                                                CustomerLink.customer_id == Customer.id)
            .where(CustomerLink.account_id == account.id)
            .order_by(CustomerLink.linked_at, CustomerLink.id)).all()
        return [_linked(customer, link) for customer, link in rows]


@text_input()
def unlink_customer_number(backend: Backend, token: str | None, number: str, password: str,
                           caller: Caller | None = None) -> str:
    """Remove a link after the password was entered again; audited. Returns the number."""
    caller = caller or Caller()
    num = norm_number(number or "")
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        sessions.check_password_throttled(db, backend, account, password, row.terminal_id,
                                          field="password")
        customer = db.scalars(select(Customer).where(Customer.number == num)).first()
        deleted = 0
        if customer is not None:
            deleted = db.execute(delete(CustomerLink).where(
                CustomerLink.account_id == account.id,
                CustomerLink.customer_id == customer.id)).rowcount or 0
        if not deleted:
            raise NotFound(MSG_NOT_LINKED, fields={"number": MSG_NOT_LINKED})
        audit.record(db, "customer_unlinked", actor_id=account.id,
                     customer_id=customer.id if customer else None,
                     terminal_id=caller.terminal_id, number=num, now=backend.now())
        return num


__all__ = [
    "CodeFrozen",
    "LinkConflict",
    "LinkFailed",
    "LinkedNumber",
    "SupportResult",
    "link_customer_number",
    "linked_numbers",
    "request_link_support",
    "unlink_customer_number",
]
