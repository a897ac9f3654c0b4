"""Contracts and subscriptions (guide 001, KVG job-ticket portal): "Vertragsverwaltung".

``contract_lists(backend, token)`` gives the account's linked contracts split into the active
ones and the expired ones. Whether a contract has expired is computed from today's date
(``valid_to`` in the past), never from a stored flag, so a contract moves to the expired list
by itself.

``link_contract(backend, token, data, caller)`` links a contract with its number (contract or
abo number), the birth date (TT.MM.JJJJ), the last name and the postal code of the customer on
record. Such a knowledge-based check must not be the only proof of identity (NIST SP 800-63A),
so it is hardened:

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
   linked to a portal account, with an objection code (``object_to_link``);
4. a contract belongs to at most one account: the contract row is locked (``FOR UPDATE`` on
   PostgreSQL, the write lock on SQLite) and ``contract_link.contract_id`` is unique.

Last names match case-insensitively, with surrounding spaces ignored and the German spelling
variants treated as equal (``normalize.fold_name``); postal codes are compared per country (an
optional "D-"/"A-"/"CH-" prefix must fit the customer's country); the birth date must be a real
date.

"Kundenverwaltung": ``customer_data`` / ``update_customer_data`` show and change the record of
the customer a linked contract belongs to; ``set_advertising_consent`` appends one row per
change to the consent history (when, text version, terminal) and never overwrites one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.engine import lock_rows
from db.models import Account, Consent, Contract, ContractLink, Customer, SupportRequest
from services import audit, mail, sessions, throttle
from services.accounts import (
    MSG_FORM,
    MSG_POSTAL,
    MSG_REQUIRED,
    AddressChecks,
    clean_text,
    field_errors,
    field_problem,
)
from services.backoffice import agent_session, clean_note, customer_name
from services.caller import Caller
from services.crypto import new_code, normalize_code
from services.customer_numbers import SupportResult
from services.errors import (
    MSG_UNCHANGED,
    N_,
    Conflict,
    DomainError,
    NotFound,
    Throttled,
    ValidationFailed,
)
from services.normalize import customer_number as norm_number
from services.normalize import fold_name, nfkc, text_input
from services.profile import normalize_phone

if TYPE_CHECKING:
    from services.backend import Backend

ACTION = "contract_link"
# Per contract and account: 3 failed attempts within 24 h freeze the contract for that account
# (only the service desk can link it for them then).
NUMBER_POLICY = throttle.Policy(max_failures=3, window=dt.timedelta(hours=24),
                                base_wait=dt.timedelta(0), freeze_after=3)
# Per contract and terminal: 3 failed attempts -> that terminal waits out the 24 h.
NUMBER_TERMINAL_POLICY = throttle.Policy(max_failures=3, window=dt.timedelta(hours=24),
                                         base_wait=dt.timedelta(hours=24),
                                         max_wait=dt.timedelta(hours=24))
# Per contract for everyone: the alarm level, 20 failed attempts within 24 h -> closed for the
# rest of the 24 h and a desk request (``throttle.raise_alarm``).
ALARM_POLICY = throttle.Policy(max_failures=20, window=dt.timedelta(hours=24),
                               base_wait=dt.timedelta(hours=24), max_wait=dt.timedelta(hours=24))
# Per account: 10 failures within 24 h -> a wait of 15 min, doubling up to 24 h.
ACCOUNT_POLICY = throttle.Policy(max_failures=10, window=dt.timedelta(hours=24),
                                 base_wait=dt.timedelta(minutes=15),
                                 max_wait=dt.timedelta(hours=24))
# Per terminal (many accounts tried at one kiosk): 30 within an hour -> 5 min, doubling.
TERMINAL_POLICY = throttle.Policy(max_failures=30, window=dt.timedelta(hours=1),
                                  base_wait=dt.timedelta(minutes=5),
                                  max_wait=dt.timedelta(hours=1))
POLICIES = throttle.RecordPolicies(NUMBER_POLICY, NUMBER_TERMINAL_POLICY, ALARM_POLICY,
                                   ACCOUNT_POLICY, TERMINAL_POLICY)
SUBJECT_ALARM = N_("Many failed attempts to link one contract")

KIND_BLOCKED = "contract_link_blocked"
CONSENT_KIND = "advertising"
STATUSES = ("active", "expired", "cancelled", "suspended", "pending")
STATUS_LABELS = {
    "active": N_("ACTIVE"),
    "expired": N_("EXPIRED"),
    "cancelled": N_("CANCELLED"),
    "suspended": N_("SUSPENDED"),
    "pending": N_("PENDING"),
}
GENDERS = {"female": N_("female"), "male": N_("male"), "diverse": N_("diverse")}

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
MSG_NOT_YOURS = N_("This contract is not linked to your account.")
MSG_NUMBER = N_("Please enter the number as printed on your contract or chip card.")
MSG_DATE = N_("Please enter a real date in the form DD.MM.YYYY.")
MSG_GENDER = N_("Please choose a gender.")
MSG_SAVED = N_("Your customer data has been saved.")
MSG_CONSENT_GIVEN = N_("Thank you: your advertising consent has been recorded.")
MSG_CONSENT_WITHDRAWN = N_("Your advertising consent has been withdrawn.")
MSG_OBJECTION_BAD = N_("This objection code is not known.")
MSG_NO_CONTRACT = N_("This contract does not belong to this customer.")
MSG_NOT_LINKED_ANY = N_("This contract is not linked to any user account.")
MSG_UNLINKED = N_("The contract {number} is no longer linked to {user}.")
SUBJECT_OBJECTION = N_("Objection to a contract link")
RESOLUTION_UNLINKED = N_("The contract link was removed.")

_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9\-/.]{0,39}$")
_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_PREFIXED = re.compile(r"^(DE|D|AT|A|CH)?(\d{4,5})$")
_PREFIX_COUNTRY = {"D": "DE", "DE": "DE", "A": "AT", "AT": "AT", "CH": "CH"}
_POSTAL_ANY = re.compile(r"^[A-Z0-9]{2,10}$")


class ContractBlocked(Throttled):
    """Too many failed attempts for this contract number: only the service desk can link it."""

    code = KIND_BLOCKED


class ContractLinkFailed(DomainError):
    """Anything did not match: one neutral message."""

    code = "contract_link_failed"


class ContractTaken(Conflict):
    """The data matched, but the contract belongs to another account."""

    code = "contract_taken"


# --------------------------------------------------------------------------- results


class ContractItem(BaseModel):
    number: str
    abo_number: str | None
    product: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None  # None: "unbefristet"
    status: str  # effective status, see ``effective_status``
    expired: bool
    customer_number: str
    linked_at: dt.datetime


class ContractLists(BaseModel):
    today: dt.date
    active: list[ContractItem]
    expired: list[ContractItem]

    @property
    def all(self) -> list[ContractItem]:
        return [*self.active, *self.expired]


class ConsentEntry(BaseModel):
    granted: bool
    text_version: str
    terminal_id: str | None
    at: dt.datetime


class CustomerData(BaseModel):
    contract_number: str
    customer_number: str
    salutation: str | None
    gender: str | None
    first_name: str | None
    last_name: str | None
    birth_date: dt.date | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    recipient: str | None
    recorded_on: dt.date | None
    phone: str | None
    phone_work: str | None
    advertising: bool
    consents: list[ConsentEntry]


class Saved(BaseModel):
    data: CustomerData
    changed: list[str]
    message: str


# --------------------------------------------------------------------------- rules


def is_expired(contract: Contract, today: dt.date) -> bool:
    """Expired: marked so by the back office, or its end date has passed."""
    return contract.status == "expired" or (contract.valid_to is not None
                                            and contract.valid_to < today)


def effective_status(contract: Contract, today: dt.date) -> str:
    """The status to show: an active contract past its end date is expired."""
    if contract.status == "active" and is_expired(contract, today):
        return "expired"
    return contract.status if contract.status in STATUSES else "active"


def parse_date(value: str) -> dt.date | None:
    """A real date typed as TT.MM.JJJJ (1-digit day and month allowed), else None."""
    match = _DATE.fullmatch(nfkc(value).replace(" ", ""))
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def postal_matches(typed: str, customer: Customer) -> bool:
    """The typed postal code (optionally with a country prefix) is the customer's."""
    key = re.sub(r"[\s\-]", "", nfkc(typed)).upper()
    stored = re.sub(r"[\s\-]", "", nfkc(customer.postal_code or "")).upper()
    match = _PREFIXED.fullmatch(key)
    if match:
        prefix, key = match.groups()
        if prefix and _PREFIX_COUNTRY[prefix] != (customer.country or "DE").upper():
            return False
    return bool(stored) and key == stored


def name_matches(typed: str, customer: Customer) -> bool:
    """Case, surrounding spaces, ü/ue, ß/ss and hyphens or spaces in double names ignored."""
    wanted = fold_name(typed).replace(" ", "")
    names = (customer.last_name, customer.company)
    return bool(wanted) and any(fold_name(n).replace(" ", "") == wanted for n in names if n)


def _birth_date(value: Any) -> dt.date:
    """A typed birth date: required, a real date, not in the future, not before 1900."""
    if isinstance(value, dt.date):
        return value
    raw = clean_text(value, required=True, max_len=12)
    date = parse_date(raw or "")
    if date is None or date.year < 1900 or date > dt.date.today():
        raise field_problem(MSG_DATE)
    return date


class LinkForm(BaseModel):
    """The link dialog: number, birth date (TT.MM.JJJJ), last name, postal code."""

    number: str
    birth_date: dt.date
    last_name: str
    postal_code: str

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> str:
        raw = clean_text(value, required=True, max_len=40)
        number = norm_number(raw or "")
        if not _NUMBER.fullmatch(number):
            raise field_problem(MSG_NUMBER)
        return number

    @field_validator("birth_date", mode="before")
    @classmethod
    def _birth_date(cls, value: Any) -> dt.date:
        return _birth_date(value)

    @field_validator("last_name", mode="before")
    @classmethod
    def _last_name(cls, value: Any) -> str:
        return clean_text(value, required=True, max_len=120) or ""

    @field_validator("postal_code", mode="before")
    @classmethod
    def _postal_code(cls, value: Any) -> str:
        raw = (clean_text(value, required=True, max_len=16) or "").upper()
        if not _POSTAL_ANY.fullmatch(re.sub(r"[\s\-]", "", raw)):
            raise field_problem(MSG_POSTAL)
        return raw


def validate_link(data: dict[str, Any]) -> LinkForm:
    """The validated dialog, or ValidationFailed with every field error at once."""
    try:
        return LinkForm.model_validate({k: data.get(k) for k in LinkForm.model_fields})
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None


# --------------------------------------------------------------------------- helpers


def _item(contract: Contract, customer_number: str, link: ContractLink,
          today: dt.date) -> ContractItem:
    return ContractItem(number=contract.number, abo_number=contract.abo_number,
                        product=contract.product, valid_from=contract.valid_from,
                        valid_to=contract.valid_to, status=effective_status(contract, today),
                        expired=is_expired(contract, today), customer_number=customer_number,
                        linked_at=link.linked_at)


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


# --------------------------------------------------------------------------- services


def contract_lists(backend: Backend, token: str | None) -> ContractLists:
    """The account's linked contracts: active ones (newest first) and expired ones."""
    today = backend.now().astimezone().date()
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        rows = db.execute(
            select(Contract, Customer.number, ContractLink)
            .join(ContractLink, ContractLink.contract_id == Contract.id)
            .join(Customer, Customer.id == Contract.customer_id)
            .where(ContractLink.account_id == account.id)).all()
    items = [_item(contract, number, link, today) for contract, number, link in rows]
    never = dt.date.max
    active = sorted((i for i in items if not i.expired),
                    key=lambda i: (i.valid_from or dt.date.min, i.number), reverse=True)
    expired = sorted((i for i in items if i.expired),
                     key=lambda i: (i.valid_to or never, i.number), reverse=True)
    return ContractLists(today=today, active=active, expired=expired)


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


# Per agent: 5 wrong objection codes within an hour -> 5 min wait, doubling up to 1 h.
OBJECTION_AGENT_POLICY = throttle.Policy(max_failures=5, window=dt.timedelta(hours=1),
                                         base_wait=dt.timedelta(minutes=5),
                                         max_wait=dt.timedelta(hours=1))
# Per terminal (several agents at one desk terminal): 15 within an hour.
OBJECTION_TERMINAL_POLICY = throttle.Policy(max_failures=15, window=dt.timedelta(hours=1),
                                            base_wait=dt.timedelta(minutes=5),
                                            max_wait=dt.timedelta(hours=1))
OBJECTION_ACTION = "contract_objection"


class ObjectionResult(BaseModel):
    """What the agent needs after recording an objection (never the code)."""

    reference: int
    created: bool  # False: an open objection request for this link existed already
    contract_number: str
    customer_id: int
    customer_number: str
    customer_name: str
    linked_account: str
    params: dict[str, str] = {}


def _objection_keys(agent_id: int, caller: Caller) -> list[tuple[str, str, throttle.Policy]]:
    return [("agent", f"g{agent_id}", OBJECTION_AGENT_POLICY),
            ("terminal", caller.terminal_id, OBJECTION_TERMINAL_POLICY)]


def _objection_throttled(db: DbSession, agent_id: int, caller: Caller, now: dt.datetime) -> None:
    states = throttle.check_many(db, [(OBJECTION_ACTION, scope, key, policy)
                                      for scope, key, policy in _objection_keys(agent_id, caller)],
                                 now)
    wait = max(state.wait_seconds(now) for state in states)
    if wait:
        raise Throttled(throttle.MSG_WAIT, params={"seconds": wait}, fields={"objection_code": throttle.MSG_WAIT})


@text_input()
def object_to_link(backend: Backend, token: str | None, objection_code: str,
                   caller: Caller) -> ObjectionResult:
    """The customer on record objects to a contract link with the code from the mail; an agent
    or supervisor records it at the service desk. Creates one ``contract_link_blocked`` request
    with reason ``objection`` (an open one for the same link is not duplicated).

    Wrong codes give one neutral message and count per agent and per terminal; the audit and
    the result name the contract and the customer, never the code."""
    code = normalize_code(objection_code or "")
    if not code:
        raise ValidationFailed(MSG_REQUIRED, fields={"objection_code": MSG_REQUIRED})
    now = backend.now()
    wanted = backend.digester.digest("contract_objection", code)
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        _objection_throttled(db, agent.id, caller, now)
        link = _objected_link(db, wanted)
        if link is None:
            for scope, key, policy in _objection_keys(agent.id, caller):
                throttle.fail(db, OBJECTION_ACTION, scope, key, policy, now)
            audit.record(db, "contract_link_objection", outcome="failed", actor_id=agent.id,
                         terminal_id=caller.terminal_id, now=now)
            db.commit()
            raise NotFound(MSG_OBJECTION_BAD, fields={"objection_code": MSG_OBJECTION_BAD})
        contract = db.get(Contract, link.contract_id)
        account = db.get(Account, link.account_id)
        assert contract is not None and account is not None
        customer = db.get(Customer, contract.customer_id)
        assert customer is not None
        request, created = _objection_request(db, link, contract, account, agent, caller, now)
        audit.record(db, "contract_link_objection", actor_id=agent.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, number=contract.number,
                     account=account.id, reference=request.id, created=created, now=now)
        holder = account.username or account.email or sessions.display_name(account)
        return ObjectionResult(
            reference=request.id, created=created, contract_number=contract.number,
            customer_id=customer.id, customer_number=customer.number,
            customer_name=customer_name(customer), linked_account=holder,
            params={"reference": str(request.id), "number": contract.number,
                    "customer": customer.number})


def _objected_link(db: DbSession, digest: str) -> ContractLink | None:
    """The link with this objection digest, read again under its contract's lock (the lock a
    link and an unlink take), so two agents recording the same objection run in turn."""
    query = select(ContractLink).where(ContractLink.objection_digest == digest)
    link = db.scalars(query).first()
    if link is None:
        return None
    contract = db.get(Contract, link.contract_id)
    assert contract is not None
    _lock_contract(db, contract.number)
    return db.scalars(query.execution_options(populate_existing=True)).first()


def _objection_request(db: DbSession, link: ContractLink, contract: Contract, account: Account,
                       agent: Account, caller: Caller, now: dt.datetime
                       ) -> tuple[SupportRequest, bool]:
    """The open objection request for this link, or a new one (``created``)."""
    for existing in db.scalars(select(SupportRequest).where(
            SupportRequest.kind == KIND_BLOCKED, SupportRequest.status.in_(("open", "taken")),
            SupportRequest.customer_id == contract.customer_id)):
        if (existing.details.get("reason") == "objection"
                and existing.details.get("contract_number") == contract.number):
            return existing, False
    request = SupportRequest(
        kind=KIND_BLOCKED, status="open", account_id=link.account_id,
        customer_id=contract.customer_id, subject=SUBJECT_OBJECTION,
        details={"contract_number": contract.number, "reason": "objection",
                 "linked_account_id": link.account_id,
                 "account_username": account.username, "account_email": account.email,
                 "linked_at": link.linked_at.isoformat(), "terminal": caller.terminal_id,
                 "recorded_by": agent.username},
        created_at=now, updated_at=now)
    request.details = {k: v for k, v in request.details.items() if v is not None}
    db.add(request)
    db.flush()
    return request, True


class UnlinkResult(BaseModel):
    message: str
    params: dict[str, str] = {}
    closed_requests: list[int] = []


@text_input()
def unlink_contract(backend: Backend, token: str | None, customer_id: int,
                    contract_number: str, caller: Caller, note: str = "") -> UnlinkResult:
    """Remove a contract's link to its portal account (an agent or supervisor at the service
    desk, e.g. after the customer on record objected). Open objection requests for the contract
    are resolved with it; the account holder is mailed; audited. One transaction."""
    text = clean_note(note)
    now = backend.now()
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        # the same lock as a link takes: an unlink and a link of this contract run in turn
        contract = _lock_contract(db, contract_number)
        if contract is None or (contract.customer_id, contract.number) != (customer_id,
                                                                           contract_number):
            raise NotFound(MSG_NO_CONTRACT)
        link = db.scalars(select(ContractLink).where(
            ContractLink.contract_id == contract.id)).first()
        if link is None:
            raise Conflict(MSG_NOT_LINKED_ANY)
        account = db.get(Account, link.account_id)
        assert account is not None
        db.delete(link)
        closed = _resolve_objections(db, contract, agent, text, now)
        audit.record(db, "desk_contract_unlinked", actor_id=agent.id,
                     customer_id=contract.customer_id, terminal_id=caller.terminal_id,
                     account=account.id, number=contract.number, requests=closed,
                     note=text or None, now=now)
        if account.email:
            mail.enqueue(db, to=account.email, template="desk_contract_unlinked",
                         language=account.language,
                         params={"name": sessions.display_name(account),
                                 "number": contract.number, "note": text})
        holder = account.username or account.email or sessions.display_name(account)
        return UnlinkResult(message=MSG_UNLINKED, closed_requests=closed,
                            params={"number": contract.number, "user": holder})


def _resolve_objections(db: DbSession, contract: Contract, agent: Account, note: str,
                        now: dt.datetime) -> list[int]:
    """Resolve the open objection requests of this contract (the unlink answers them)."""
    closed = []
    for request in db.scalars(select(SupportRequest).where(
            SupportRequest.kind == KIND_BLOCKED, SupportRequest.status.in_(("open", "taken")),
            SupportRequest.customer_id == contract.customer_id)):
        if (request.details.get("reason") == "objection"
                and request.details.get("contract_number") == contract.number):
            request.status, request.updated_at = "resolved", now
            request.resolution = note or RESOLUTION_UNLINKED
            request.assigned_to_id = request.assigned_to_id or agent.id
            closed.append(request.id)
    return closed


# --------------------------------------------------------------------------- Kundenverwaltung


def _own_customer(db: DbSession, account_id: int, contract_number: str) -> Customer:
    """The customer of a contract linked to this account, else NotFound."""
    customer = db.scalars(
        select(Customer).join(Contract, Contract.customer_id == Customer.id)
        .join(ContractLink, ContractLink.contract_id == Contract.id)
        .where(ContractLink.account_id == account_id,
               Contract.number == norm_number(contract_number))).first()
    if customer is None:
        raise NotFound(MSG_NOT_YOURS)
    return customer


def _consents(db: DbSession, customer: Customer) -> list[ConsentEntry]:
    rows = db.scalars(select(Consent).where(Consent.customer_id == customer.id,
                                            Consent.kind == CONSENT_KIND)
                      .order_by(Consent.created_at.desc(), Consent.id.desc()))
    return [ConsentEntry(granted=r.granted, text_version=r.text_version,
                         terminal_id=r.terminal_id, at=r.created_at) for r in rows]


def _data(db: DbSession, customer: Customer, contract_number: str) -> CustomerData:
    consents = _consents(db, customer)
    return CustomerData(
        contract_number=norm_number(contract_number), customer_number=customer.number,
        salutation=customer.salutation, gender=customer.gender,
        first_name=customer.first_name, last_name=customer.last_name,
        birth_date=customer.birth_date, street=customer.street,
        postal_code=customer.postal_code, city=customer.city, country=customer.country,
        recipient=customer.recipient,
        recorded_on=customer.created_at.date() if customer.created_at else None,
        phone=customer.phone, phone_work=customer.phone_work,
        advertising=bool(consents and consents[0].granted), consents=consents)


@text_input()
def customer_data(backend: Backend, token: str | None, contract_number: str) -> CustomerData:
    """The record of the customer a linked contract belongs to, with the consent history."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        return _data(db, _own_customer(db, account.id, contract_number), contract_number)


class CustomerDataInput(AddressChecks):
    salutation: str | None = None
    gender: str | None = None
    first_name: str
    last_name: str
    birth_date: dt.date | None = None
    street: str
    country: str = "DE"
    postal_code: str
    city: str
    recipient: str | None = None
    phone: str | None = None
    phone_work: str | None = None

    @field_validator("gender", mode="before")
    @classmethod
    def _gender(cls, value: Any) -> str | None:
        if value in (None, ""):
            return None
        if value not in GENDERS:
            raise field_problem(MSG_GENDER)
        return str(value)

    @field_validator("birth_date", mode="before")
    @classmethod
    def _birth_date(cls, value: Any) -> dt.date | None:
        return None if value in (None, "") else _birth_date(value)

    @field_validator("recipient", mode="before")
    @classmethod
    def _recipient(cls, value: Any) -> str | None:
        return clean_text(value, required=False, max_len=200)

    @field_validator("phone", "phone_work", mode="before")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str | None:
        text_ = clean_text(value, required=False, max_len=40)
        return None if text_ is None else normalize_phone(text_, info.data.get("country") or "DE")


EDITABLE = tuple(CustomerDataInput.model_fields)


def validate_customer_data(data: dict[str, Any]) -> CustomerDataInput:
    try:
        return CustomerDataInput.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None


@text_input()
def update_customer_data(backend: Backend, token: str | None, contract_number: str,
                         data: dict[str, Any], caller: Caller) -> Saved:
    """Save the customer record (password entered within 5 minutes); the changed field names,
    never their values, go to the audit log."""
    form = validate_customer_data(data)
    now = backend.now()
    with backend.transaction() as db:
        info = sessions.info(*sessions.live_recent(db, backend, token))
        customer = _own_customer(db, info.account_id, contract_number)
        changed = [name for name in EDITABLE if getattr(customer, name) != getattr(form, name)]
        for name in changed:
            setattr(customer, name, getattr(form, name))
        if changed:
            customer.search_name = fold_name(
                customer.company if customer.type == "company" and customer.company
                else customer.last_name or customer.company) or None
            audit.record(db, "customer_data_changed", actor_id=info.account_id,
                         customer_id=customer.id, terminal_id=caller.terminal_id,
                         fields=",".join(changed), now=now)
        db.flush()
        return Saved(data=_data(db, customer, contract_number), changed=changed,
                     message=MSG_SAVED if changed else MSG_UNCHANGED)


@text_input()
def set_advertising_consent(backend: Backend, token: str | None, contract_number: str,
                            granted: bool, caller: Caller) -> Saved:
    """Give or withdraw the advertising consent: one new history row per change."""
    now = backend.now()
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        customer = _own_customer(db, account.id, contract_number)
        current = _consents(db, customer)
        if bool(current and current[0].granted) == granted:
            return Saved(data=_data(db, customer, contract_number), changed=[],
                         message=MSG_UNCHANGED)
        db.add(Consent(account_id=account.id, customer_id=customer.id, kind=CONSENT_KIND,
                       granted=granted, text_version=backend.settings.marketing_version,
                       terminal_id=caller.terminal_id, created_at=now))
        audit.record(db, "consent_changed", actor_id=account.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, kind=CONSENT_KIND, granted=granted,
                     version=backend.settings.marketing_version, now=now)
        db.flush()
        return Saved(data=_data(db, customer, contract_number), changed=["advertising"],
                     message=MSG_CONSENT_GIVEN if granted else MSG_CONSENT_WITHDRAWN)


__all__ = [
    "ContractBlocked", "ContractItem", "ContractLinkFailed", "ContractLists", "ContractTaken",
    "CustomerData", "ObjectionResult", "Saved", "SupportResult", "UnlinkResult",
    "contract_lists", "customer_data", "effective_status", "is_expired", "link_contract",
    "name_matches", "object_to_link", "unlink_contract",
    "parse_date", "postal_matches", "request_contract_support", "set_advertising_consent",
    "update_customer_data", "validate_link",
]
