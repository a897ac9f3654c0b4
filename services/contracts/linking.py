"""Linking a contract to a portal account, hardened against guessing (guide 001).

``link_contract(backend, token, data, caller)`` links a contract with its number (contract or
abo number), the birth date, the last name and the postal code of the customer on record (the
dialog and the comparison: ``services.contracts.form``). Such a knowledge-based check must not
be the only proof of identity (NIST SP 800-63A), so it is hardened:

1. one neutral message whatever did not match (never which field);
2. every attempt is reserved before the data are compared (``throttle.reserve``); at most 3
   failed attempts per contract number and account within 24 hours, then the contract is
   frozen for that account and can only be linked for it through the service desk
   (``request_contract_support`` queues a ``SupportRequest`` of kind
   ``contract_link_blocked``); 3 per contract and terminal (then that terminal waits out the
   24 hours); 20 per contract from anyone is the alarm level (closed for the rest of the 24
   hours, a desk request of kind ``guessing_alarm``); limits per account and per terminal
   across contracts too. The owner's own account at another terminal is never frozen out by
   someone else's guesses (``services.throttle``, "Per-record limits");
3. the customer on record gets a mail (when the record has an address) that the contract was
   linked to a portal account, with an objection code (``services.contracts.objections``);
4. a contract belongs to at most one account: the contract row is locked (``_lock_contract``:
   ``FOR UPDATE`` on PostgreSQL, the write lock on SQLite) and ``contract_link.contract_id``
   is unique.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.engine import lock_rows
from db.models import Account, Contract, ContractLink, Customer, SupportRequest
from services import audit, mail, sessions, throttle
from services.accounts import MSG_REQUIRED
from services.caller import Caller
from services.contracts.form import LinkForm, name_matches, postal_matches, validate_link
from services.contracts.lists import ContractItem, _item
from services.crypto import new_code, normalize_code
from services.customer_numbers import SupportResult
from services.errors import N_, Conflict, DomainError, NotFound, Throttled, ValidationFailed
from services.normalize import customer_number as norm_number
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

ACTION = "contract_link"
# Per contract and account (or terminal): 3 failed attempts within 24 h freeze the contract for
# that account (only the service desk can link it for them then) and make that terminal wait
# out the 24 h; 20 from anyone are the alarm level (``throttle.record_policies``).
POLICIES = throttle.record_policies(per_record=3, alarm=20)
NUMBER_POLICY, NUMBER_TERMINAL_POLICY = POLICIES.actor_on_record, POLICIES.terminal_on_record
ALARM_POLICY, ACCOUNT_POLICY, TERMINAL_POLICY = POLICIES.alarm, POLICIES.actor, POLICIES.terminal
SUBJECT_ALARM = N_("Many failed attempts to link one contract")

KIND_BLOCKED = "contract_link_blocked"

MSG_NEUTRAL = N_("The data do not match a contract that can be linked. Please check your "
                 "entries.")
MSG_BLOCKED = N_("This contract can no longer be linked here because of too many failed "
                 "attempts. Please send a request to the service desk.")
MSG_TAKEN = N_("This contract is already linked to another user account. You can send a "
               "request to the service desk.")
MSG_ALREADY_YOURS = N_("The contract {number} is already linked to your account.")
MSG_LINKED = N_("The contract {number} is now linked to your account.")
MSG_NO_REQUEST = N_("There is nothing to send to the service desk for this contract. Please "
                    "try linking it again.")


class ContractBlocked(Throttled):
    """Too many failed attempts for this contract number: only the service desk can link it."""

    code = KIND_BLOCKED


class ContractLinkFailed(DomainError):
    """Anything did not match: one neutral message."""

    code = "contract_link_failed"


class ContractTaken(Conflict):
    """The data matched, but the contract belongs to another account."""

    code = "contract_taken"


def _record(db: DbSession, number: str) -> str:
    """The contract number the counters are kept under (also when its abo number is typed)."""
    found = db.scalar(select(Contract.number).where(
        or_(Contract.number == number, Contract.abo_number == number))
        .order_by(Contract.number != number, Contract.id).limit(1))
    return found or number


def _limits(db: DbSession, account_id: int, caller: Caller, number: str
            ) -> list[throttle.Limit]:
    return throttle.record_limits(ACTION, _record(db, number), f"a{account_id}",
                                  caller.terminal_id or "local", POLICIES)


def _reserve(backend: Backend, token: str | None, caller: Caller, number: str
             ) -> throttle.Reservation:
    """The attempt reserved on the contract's counters and committed before the data are
    compared (``throttle`` doc); a refusal raises ``ContractBlocked`` or ``Throttled``."""
    now = backend.now()
    with backend.transaction() as db:
        info = sessions.info(*sessions.live_recent(db, backend, token))
        reservation = throttle.reserve(db, _limits(db, info.account_id, caller, number), now)
        if not reservation.granted:
            kind, message, params = throttle.refusal(reservation, now)
            audit.record(db, "contract_link", outcome="throttled", actor_id=info.account_id,
                         terminal_id=caller.terminal_id, reason=kind, number=number[:40],
                         now=now)
            db.commit()
            if kind == "frozen":
                raise ContractBlocked(MSG_BLOCKED)
            raise (ContractBlocked if kind in ("alarm", "record") else Throttled)(
                message, params=params)
    return reservation


def _blocked_here(db: DbSession, account_id: int, caller: Caller, number: str,
                  now: dt.datetime) -> bool:
    """Whether this account or terminal may no longer try this contract (or nobody may)."""
    limits = _limits(db, account_id, caller, number)[:3]
    states = throttle.check_many(db, [(lim.action, lim.scope, lim.key, lim.policy)
                                      for lim in limits], now)
    return any(not state.allowed(now) for state in states)


def _lock_contract(db: DbSession, number: str) -> Contract | None:
    """The contract with this contract or abo number, locked (FOR UPDATE on PostgreSQL; on
    SQLite a no-op write takes the database write lock, so two links run one after the other)."""
    where = or_(Contract.number == number, Contract.abo_number == number)
    query = select(Contract).where(where).order_by(Contract.number != number, Contract.id)
    return db.scalars(lock_rows(db, Contract, where, query=query)).first()


def _mismatch(contract: Contract | None, customer: Customer | None, form: LinkForm) -> str:
    """The reason the data do not match (for the audit log only), or ''."""
    if contract is None or customer is None:
        return "unknown_number"
    if customer.birth_date is None or customer.birth_date != form.birth_date:
        return "birth_date"
    if not name_matches(form.last_name, customer):
        return "last_name"
    if not postal_matches(form.postal_code, customer):
        return "postal_code"
    return ""


def _verify(db: DbSession, backend: Backend, account_id: int, caller: Caller,
            form: LinkForm, reservation: throttle.Reservation) -> tuple[Contract, Customer]:
    """Lock the contract and compare the data. A match gives the reservation back; a
    mismatch stays counted: audited (the alarm level opens a desk request), committed,
    raised."""
    now = backend.now()
    contract = _lock_contract(db, form.number)
    customer = db.get(Customer, contract.customer_id) if contract is not None else None
    reason = _mismatch(contract, customer, form)
    if not reason and contract is not None and customer is not None:
        throttle.succeeded(db, reservation.limits, now)
        return contract, customer
    cid = customer.id if customer is not None else None
    audit.record(db, "contract_link", outcome="failed", actor_id=account_id, customer_id=cid,
                 terminal_id=caller.terminal_id, reason=reason, number=form.number[:40],
                 now=now)
    throttle.raise_alarm(db, reservation, subject=SUBJECT_ALARM, customer_id=cid,
                         account_id=account_id, terminal=caller.terminal_id, now=now)
    if reservation.status("record_actor").frozen:
        audit.record(db, "contract_link_blocked", actor_id=account_id, customer_id=cid,
                     terminal_id=caller.terminal_id, number=form.number[:40], now=now)
        db.commit()
        raise ContractBlocked(MSG_BLOCKED)
    db.commit()
    raise ContractLinkFailed(MSG_NEUTRAL)


def _owner(db: DbSession, contract: Contract) -> int | None:
    return db.scalar(select(ContractLink.account_id).where(
        ContractLink.contract_id == contract.id))


def _customer_name(customer: Customer) -> str:
    person = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return person or customer.company or ""


def _inform_customer(db: DbSession, backend: Backend, customer: Customer, contract: Contract,
                     objection: str, now: dt.datetime) -> None:
    """Mail the customer on record that the contract was linked, with the objection code."""
    if not customer.email:
        return
    mail.enqueue(db, to=customer.email, template="contract_linked", language="de",
                 params={"name": _customer_name(customer), "number": contract.number,
                         "date": now.astimezone().strftime("%d.%m.%Y %H:%M"),
                         "objection_code": objection})


@text_input()
def link_contract(backend: Backend, token: str | None, data: dict[str, Any],
                  caller: Caller) -> ContractItem:
    """Link a contract after the knowledge check (see the module doc)."""
    form = validate_link(data)
    reservation = _reserve(backend, token, caller, form.number)
    for attempt in range(3):
        try:
            return _link_once(backend, token, caller, form, reservation)
        except IntegrityError:  # another account won the race a moment ago
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _link_once(backend: Backend, token: str | None, caller: Caller,
               form: LinkForm, reservation: throttle.Reservation) -> ContractItem:
    now = backend.now()
    with backend.transaction() as db:
        info = sessions.info(*sessions.live_recent(db, backend, token))
        contract, customer = _verify(db, backend, info.account_id, caller, form, reservation)
        owner = _owner(db, contract)
        if owner == info.account_id:
            db.commit()  # the right data: the reservation stays given back
            raise Conflict(MSG_ALREADY_YOURS, code="already_linked",
                           params={"number": contract.number})
        if owner is not None:
            audit.record(db, "contract_link", outcome="conflict", actor_id=info.account_id,
                         customer_id=customer.id, terminal_id=caller.terminal_id,
                         reason="taken", number=contract.number, now=now)
            db.commit()
            raise ContractTaken(MSG_TAKEN, params={"number": contract.number})
        objection = new_code(12)
        link = ContractLink(account_id=info.account_id, contract_id=contract.id, linked_at=now,
                            objection_digest=backend.digester.digest(
                                "contract_objection", normalize_code(objection)))
        db.add(link)
        db.flush()
        audit.record(db, "contract_linked", actor_id=info.account_id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, number=contract.number,
                     informed=bool(customer.email), now=now)
        _inform_customer(db, backend, customer, contract, objection, now)
        return _item(contract, customer.number, link, now.astimezone().date())


@text_input()
def request_contract_support(backend: Backend, token: str | None, data: dict[str, Any],
                             caller: Caller) -> SupportResult:
    """Ask the service desk to link a contract (kind ``contract_link_blocked``).

    Allowed when the typed number is blocked for this account or terminal after too many
    failed attempts (or for everyone at the alarm level), or when the data match but the
    contract belongs to another account. An open request of the same account for the same
    number is not duplicated.
    """
    number = norm_number(str(data.get("number") or ""))
    if not number:
        raise ValidationFailed(MSG_REQUIRED, fields={"number": MSG_REQUIRED})
    now = backend.now()
    with backend.transaction() as db:
        info = sessions.info(*sessions.live_recent(db, backend, token))
        blocked = _blocked_here(db, info.account_id, caller, number, now)
    if blocked:
        with backend.transaction() as db:
            info = sessions.info(*sessions.live_recent(db, backend, token))
            contract = db.scalars(select(Contract).where(or_(
                Contract.number == number, Contract.abo_number == number))).first()
            return _support_request(db, info, caller, number, contract, "attempt_limit", now)
    form = validate_link(data)
    reservation = _reserve(backend, token, caller, form.number)
    with backend.transaction() as db:
        info = sessions.info(*sessions.live_recent(db, backend, token))
        contract, _customer = _verify(db, backend, info.account_id, caller, form, reservation)
        owner = _owner(db, contract)
        if owner is None or owner == info.account_id:
            db.commit()  # the right data: the reservation stays given back
            raise NotFound(MSG_NO_REQUEST)
        return _support_request(db, info, caller, number, contract, "taken", now)


def _support_request(db: DbSession, info: sessions.SessionInfo, caller: Caller, number: str,
                     contract: Contract | None, reason: str, now: dt.datetime) -> SupportResult:
    for existing in db.scalars(select(SupportRequest).where(
            SupportRequest.kind == KIND_BLOCKED, SupportRequest.status == "open",
            SupportRequest.account_id == info.account_id)):
        if existing.details.get("contract_number") == number:
            return SupportResult(reference=existing.id, params={"reference": str(existing.id)})
    account = db.get(Account, info.account_id)
    assert account is not None
    details: dict[str, Any] = {
        "contract_number": number, "reason": reason, "terminal": caller.terminal_id,
        "account_username": account.username, "account_email": account.email,
        "account_name": sessions.display_name(account),
    }
    if contract is not None:
        details["contract_id"] = contract.id
        owner = _owner(db, contract)
        if owner is not None:
            details["linked_account_id"] = owner
    subject = ("Contract link blocked after failed attempts" if reason == "attempt_limit"
               else "Contract already linked to another user")
    request = SupportRequest(kind=KIND_BLOCKED, status="open", account_id=account.id,
                             customer_id=contract.customer_id if contract else None,
                             subject=subject,
                             details={k: v for k, v in details.items() if v is not None},
                             created_at=now, updated_at=now)
    db.add(request)
    db.flush()
    audit.record(db, "support_request", actor_id=account.id, terminal_id=caller.terminal_id,
                 kind=KIND_BLOCKED, reason=reason, reference=request.id, now=now)
    if account.email:
        mail.enqueue(db, to=account.email, template="support_request_sent",
                     language=account.language,
                     params={"name": sessions.display_name(account),
                             "reference": str(request.id), "subject": subject})
    return SupportResult(reference=request.id, params={"reference": str(request.id)})
