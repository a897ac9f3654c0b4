"""Merging two customer numbers: "Kundennummern zusammenführen" (guide 004).

The wizard calls, in this order:

1. ``options(backend, token)`` — the numbers that may be kept: the account's linked numbers,
   or, in a session opened with a customer number, that number only (it is always kept);
2. ``compare(backend, token, keep, other, credential, caller)`` — the proof that ``other``
   belongs to the customer (its customer password or a valid Freischaltcode, checked in
   constant time; the attempt is reserved first on the limits of linking by code: per number
   and actor, per number and terminal, the number's alarm level, per actor and per terminal;
   one neutral message for every wrong proof), then the comparison field by field. When company, first or last
   name differ the merge is blocked: a ``SupportRequest`` of kind ``merge_blocked`` is queued
   (once per pair) and the contract-transfer form can be saved or mailed as a PDF
   (``save_transfer_form`` / ``mail_transfer_form``);
3. ``submit(backend, token, keep, other, credential, take_over, caller)`` — the merge order in
   one transaction under row locks on both records: contracts, licences, customer links,
   memberships and open support requests move to the kept number; the other record stays,
   with ``merged_into_id``/``merged_at`` set and its data untouched; ``MergeOrder.moved``
   lists every moved row so that ``reverse_merge`` (the back office, within 30 days) can
   restore it. Submitting the same pair again returns the first order (``already=True``).

"Daten übernehmen" (``take_over=True``) keeps the kept number's data as they are. "Auftrag
abschicken" (``take_over=False``) also completes fields that are empty in the kept record
with the other record's values (recorded in ``moved["filled"]``, restored by a reversal).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from db.engine import lock_rows
from db.models import (
    Account,
    ActivationCode,
    Contract,
    Customer,
    CustomerLink,
    LicenceKey,
    Membership,
    MergeOrder,
    Session,
    SupportRequest,
)
from services import audit, customer_numbers, mail, sessions, throttle
from services.caller import Caller
from services.crypto import normalize_code
from services.errors import (
    N_,
    AuthFailed,
    Conflict,
    NotAllowed,
    NotFound,
    Throttled,
    ValidationFailed,
)
from services.i18n import translate
from services.normalize import customer_number as norm_number
from services.normalize import fold_name, nfkc, text_input

if TYPE_CHECKING:
    from services.backend import Backend

ACTION = "merge_proof"
KIND_BLOCKED = "merge_blocked"
REVERSE_DAYS = 30
OPEN_REQUEST_STATES = ("open", "taken")
# The limits of linking by Freischaltcode: per number (5 wrong proofs in 24 h freeze it until
# the service desk helps), per account or customer-number session, per terminal.
# Reserved before the proof is checked; per number and actor / terminal, the alarm level per
# number (``throttle`` doc, "Per-record limits").
POLICIES = customer_numbers.POLICIES
SUBJECT_ALARM = N_("Many wrong proofs for one customer number in the merge")

MSG_REQUIRED = N_("This field must not be empty.")
MSG_PROOF = N_("The customer number and the customer password or Freischaltcode do not "
               "match. Please check both entries.")
MSG_FROZEN = N_("Too many wrong entries were made for this customer number. Please ask the "
                "service desk for help.")
MSG_SAME = N_("Please enter a customer number other than the one you keep.")
MSG_NOT_YOURS = N_("The customer number {number} is not linked to your account.")
MSG_OTHER_ACCOUNT = N_("The customer number {number} belongs to another user and cannot be "
                       "merged.")
MSG_HAS_ACCOUNT = N_("The customer number {number} is linked to a portal account. Please log "
                     "in with that account to merge it.")
MSG_ALREADY_MERGED = N_("The customer number {number} has already been merged and cannot be "
                        "merged again.")
MSG_BLOCKED = N_("Company, first name and/or last name are not identical, so the data cannot "
                 "be taken over for now. To prevent misuse, we need a legal proof for a change "
                 "of these data: please send us a signed contract transfer form. An online "
                 "change is not possible here.")
MSG_NO_REQUEST = N_("This request was not found.")
MSG_NO_EMAIL = N_("No e-mail address is known for you. Please save the form instead.")
MSG_NOT_DONE = N_("This merge order cannot be reversed (it was reversed already).")
MSG_TOO_LATE = N_("A merge can only be reversed within 30 days.")
MSG_REQUEST_SUBJECT = N_("Merging customer numbers: a signed contract transfer form is needed")

# (field, label msgid, a difference blocks the merge)
COMPARED: tuple[tuple[str, str, bool], ...] = (
    ("company", N_("Company name"), True),
    ("first_name", N_("First name"), True),
    ("last_name", N_("Last name"), True),
    ("street", N_("Street"), False),
    ("postal_code", N_("Postal code"), False),
    ("city", N_("City"), False),
    ("phone", N_("Phone"), False),
    ("mobile", N_("Mobile"), False),
    ("email", N_("E-mail address"), False),
    ("bank_account", N_("Account number / IBAN"), False),
    ("bank_code", N_("Bank code / BIC"), False),
)
# Fields "Auftrag abschicken" may complete in the kept record (bank data as a pair).
FILLABLE = ("street", "postal_code", "city", "phone", "mobile", "email")


class MergeOptions(BaseModel):
    numbers: list[str]
    customer_session: bool
    display_name: str


class DiffRow(BaseModel):
    field: str
    label: str  # English msgid
    kept: str
    other: str
    differs: bool
    blocking: bool


class Comparison(BaseModel):
    kept_number: str
    other_number: str
    rows: list[DiffRow]
    blocked: bool
    reference: int | None = None  # the service-desk request of a blocked merge
    already_merged: bool = False


class MergeResult(BaseModel):
    order_id: int
    kept_number: str
    merged_number: str
    contracts: int
    licences: int
    requests: int
    take_over: bool
    already: bool = False
    mailed: bool = False


class ReverseResult(BaseModel):
    order_id: int
    kept_number: str
    merged_number: str
    contracts: int
    licences: int


class FormFile(BaseModel):
    name: str
    data: bytes


@dataclass
class Actor:
    """Who runs the wizard: an account, or a customer-number session (no account)."""

    account_id: int | None
    customer_id: int | None
    terminal_id: str | None
    email: str | None
    language: str
    name: str
    reservation: throttle.Reservation | None = None

    @property
    def key(self) -> str:
        return f"a{self.account_id}" if self.account_id is not None else f"c{self.customer_id}"


# --------------------------------------------------------------------------- the actor


def _session_kind(db: DbSession, backend: Backend, token: str | None) -> str:
    row = None
    if token:
        row = db.scalars(select(Session).where(
            Session.token_digest == sessions.digest(backend, token))).first()
    if row is not None and row.account_id is None and row.customer_id is not None:
        return "customer"
    return "account"


def _actor(db: DbSession, backend: Backend, token: str | None, *, recent: bool) -> Actor:
    """The session's actor inside the transaction (ReauthRequired when ``recent`` is due)."""
    if _session_kind(db, backend, token) == "customer":
        load_c = sessions.live_recent_customer if recent else sessions.live_customer
        row, customer = load_c(db, backend, token)
        return Actor(None, customer.id, row.terminal_id, customer.email, "de",
                     sessions.customer_display_name(customer))
    load_a = sessions.live_recent if recent else sessions.live
    row, account = load_a(db, backend, token)
    return Actor(account.id, None, row.terminal_id, account.email, account.language,
                 sessions.display_name(account))


def require_recent_auth(backend: Backend, token: str | None) -> None:
    """ReauthRequired unless the password was entered within ``reauth_valid`` (both kinds)."""
    with backend.transaction() as db:
        _actor(db, backend, token, recent=True)


@text_input()
def reauthenticate(backend: Backend, token: str | None, password: str) -> None:
    """The password again: the account's, or the customer password in a number session."""
    with backend.transaction() as db:
        kind = _session_kind(db, backend, token)
    if kind == "customer":
        from services import customer_login

        customer_login.reauthenticate(backend, token, password)
    else:
        sessions.reauthenticate(backend, token, password)


def options(backend: Backend, token: str | None) -> MergeOptions:
    """The numbers that may be kept (linked and not merged), oldest link first."""
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=False)
        if actor.customer_id is not None:
            number = db.scalar(select(Customer.number).where(Customer.id == actor.customer_id))
            return MergeOptions(numbers=[number or ""], customer_session=True,
                                display_name=actor.name)
        numbers = db.scalars(
            select(Customer.number).join(CustomerLink, CustomerLink.customer_id == Customer.id)
            .where(CustomerLink.account_id == actor.account_id,
                   Customer.merged_into_id.is_(None))
            .order_by(CustomerLink.linked_at, CustomerLink.id)).all()
        return MergeOptions(numbers=list(numbers), customer_session=False,
                            display_name=actor.name)


# --------------------------------------------------------------------------- the proof


def _validate(keep: str, other: str, credential: str) -> tuple[str, str]:
    fields = {}
    if not (keep or "").strip():
        fields["keep"] = MSG_REQUIRED
    if not (other or "").strip():
        fields["other_number"] = MSG_REQUIRED
    if not credential:
        fields["credential"] = MSG_REQUIRED
    if fields:
        raise ValidationFailed(MSG_REQUIRED, fields=fields)
    keep_n, other_n = norm_number(keep)[:32], norm_number(other)[:32]
    if keep_n == other_n:
        raise ValidationFailed(MSG_SAME, fields={"other_number": MSG_SAME})
    return keep_n, other_n


def _reserve(backend: Backend, token: str | None, caller: Caller, number: str) -> Actor:
    """The actor (password entered recently) and the attempt reserved on the other number's
    counters, committed before the proof is checked (``throttle`` doc); refusals raise."""
    now = backend.now()
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=True)
        limits = throttle.record_limits(ACTION, number, actor.key,
                                        caller.terminal_id or actor.terminal_id or "local",
                                        POLICIES)
        reservation = throttle.reserve(db, limits, now)
        if not reservation.granted:
            kind, message, params = throttle.refusal(reservation, now)
            audit.record(db, "merge_proof", outcome="throttled", actor_id=actor.account_id,
                         customer_id=actor.customer_id, terminal_id=caller.terminal_id,
                         reason=kind, number=number, now=now)
            db.commit()
            raise Throttled(MSG_FROZEN if kind == "frozen" else message, params=params)
    actor.reservation = reservation
    return actor


def _code_matches(db: DbSession, backend: Backend, customer: Customer | None, credential: str,
                  today: dt.date) -> bool:
    """A valid (unused, unrevoked, unexpired) Freischaltcode of ``customer``; constant time."""
    wanted = backend.digester.digest("activation", normalize_code(credential))
    if customer is None:
        return False
    found = False
    for row in db.scalars(select(ActivationCode).where(ActivationCode.customer_id == customer.id)):
        same = backend.digester.same(row.code_digest, wanted)
        usable = (row.used_at is None and row.revoked_at is None
                  and (row.valid_until is None or row.valid_until >= today))
        found = found or (same and usable)
    return found


def _prove(db: DbSession, backend: Backend, actor: Actor, caller: Caller,
           other: Customer | None, number: str, credential: str) -> Customer:
    """Check the proof for ``other`` (one argon2 run and one code digest on every path). Right:
    the reservation (``_reserve``) is given back; wrong: it stays counted, audited (the
    alarm level opens a desk request), committed and raised."""
    now = backend.now()
    password = unicodedata.normalize("NFKC", credential)
    by_password = backend.hasher.verify(other.password_hash if other else None, password)
    by_code = _code_matches(db, backend, other, credential, now.date())
    reservation = actor.reservation
    assert reservation is not None
    if other is not None and (by_password or by_code):
        throttle.succeeded(db, reservation.limits, now)
        return other
    audit.record(db, "merge_proof", outcome="failed", actor_id=actor.account_id,
                 customer_id=actor.customer_id, terminal_id=caller.terminal_id,
                 number=number, now=now)
    throttle.raise_alarm(db, reservation, subject=SUBJECT_ALARM,
                         customer_id=other.id if other is not None else None,
                         account_id=actor.account_id, terminal=caller.terminal_id, now=now)
    db.commit()
    if reservation.status("record_actor").frozen:
        raise Throttled(MSG_FROZEN)
    raise AuthFailed(MSG_PROOF)


def _proven(backend: Backend, token: str | None, caller: Caller, number: str,
            credential: str) -> None:
    """Reserve the attempt, then check the proof in a transaction of its own (no record lock
    held during argon2), so that its outcome is committed whatever the merge does next."""
    reserved = _reserve(backend, token, caller, number)
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=True)
        actor.reservation = reserved.reservation
        _prove(db, backend, actor, caller, _load(db, number), number, credential)


def _owner(db: DbSession, customer: Customer) -> int | None:
    return db.scalar(select(CustomerLink.account_id).where(
        CustomerLink.customer_id == customer.id))


def _check_pair(db: DbSession, actor: Actor, keep: Customer | None, other: Customer) -> Customer:
    """The ownership rules: the kept number is the actor's, the other one nobody else's."""
    if keep is None:
        raise NotAllowed(MSG_NOT_YOURS, fields={"keep": MSG_NOT_YOURS}, params={"number": ""})
    params = {"number": keep.number}
    keep_owner = _owner(db, keep)
    if actor.account_id is not None and keep_owner != actor.account_id:
        raise NotAllowed(MSG_NOT_YOURS, fields={"keep": MSG_NOT_YOURS}, params=params)
    if actor.customer_id is not None:
        if keep.id != actor.customer_id:
            raise NotAllowed(MSG_NOT_YOURS, fields={"keep": MSG_NOT_YOURS}, params=params)
        if keep_owner is not None:
            raise NotAllowed(MSG_HAS_ACCOUNT, params=params)
    if keep.merged_into_id is not None:
        raise Conflict(MSG_ALREADY_MERGED, params=params)
    params = {"number": other.number}
    if other.merged_into_id is not None and other.merged_into_id != keep.id:
        raise Conflict(MSG_ALREADY_MERGED, params=params)
    other_owner = _owner(db, other)
    if other_owner is not None and other_owner != actor.account_id:
        message = MSG_HAS_ACCOUNT if actor.account_id is None else MSG_OTHER_ACCOUNT
        raise NotAllowed(message, params=params)
    return keep


# --------------------------------------------------------------------------- comparison


def _value(customer: Customer, field: str) -> str:
    if field == "bank_account":
        value = customer.iban or customer.account_number
    elif field == "bank_code":
        value = customer.bic or customer.bank_code
    else:
        value = getattr(customer, field)
    return nfkc(str(value)) if value else ""


def _same(field: str, a: str, b: str, blocking: bool) -> bool:
    if blocking:
        return fold_name(a) == fold_name(b)
    if field in ("bank_account", "bank_code", "phone", "mobile", "postal_code"):
        return "".join(a.split()).upper() == "".join(b.split()).upper()
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _shown(field: str, value: str) -> str:
    """Account numbers and IBANs are shown masked (a kiosk screen can be seen by others)."""
    if field != "bank_account" or len(value) <= 8:
        return value
    compact = "".join(value.split())
    return f"{compact[:4]} •••• {compact[-4:]}"


def diff_rows(keep: Customer, other: Customer) -> list[DiffRow]:
    """The comparison table of the guide, field by field (compared in full, shown masked)."""
    rows = []
    for field, label, blocking in COMPARED:
        a, b = _value(keep, field), _value(other, field)
        rows.append(DiffRow(field=field, label=label, kept=_shown(field, a),
                            other=_shown(field, b), differs=not _same(field, a, b, blocking),
                            blocking=blocking))
    return rows


def _blocked(rows: list[DiffRow]) -> bool:
    return any(r.differs and r.blocking for r in rows)


def _load(db: DbSession, number: str) -> Customer | None:
    return db.scalars(select(Customer).where(Customer.number == number)
                      .execution_options(populate_existing=True)).first()


def _lock_pair(db: DbSession, numbers: tuple[str, str]) -> None:
    """Lock both customer rows (lower id first): FOR UPDATE on PostgreSQL; on SQLite a no-op
    write takes the database write lock, so two orders of one pair run one after the other."""
    db.scalars(lock_rows(db, Customer, Customer.number.in_(numbers))).all()


def _difference_details(rows: list[DiffRow]) -> dict[str, Any]:
    return {r.field: {"kept": r.kept, "other": r.other} for r in rows if r.differs}


def _blocked_request(db: DbSession, actor: Actor, caller: Caller, keep: Customer,
                     other: Customer, rows: list[DiffRow], now: dt.datetime) -> int:
    """Queue (once per pair) the service-desk request of a blocked merge; its id."""
    query = select(SupportRequest).where(
        SupportRequest.kind == KIND_BLOCKED, SupportRequest.status.in_(OPEN_REQUEST_STATES),
        SupportRequest.customer_id == keep.id)
    for request in db.scalars(query):
        if request.details.get("other_number") == other.number:
            return request.id
    account = db.get(Account, actor.account_id) if actor.account_id is not None else None
    details: dict[str, Any] = {
        "kept_number": keep.number, "other_number": other.number,
        "kept_name": _person(keep), "other_name": _person(other),
        "differing_fields": [r.field for r in rows if r.differs],
        "blocking_fields": [r.field for r in rows if r.differs and r.blocking],
        "differences": _difference_details(rows),
        "proof_checked": True, "customer_session": account is None,
        "terminal": caller.terminal_id,
    }
    if account is not None:
        details.update(account_username=account.username, account_email=account.email)
    request = SupportRequest(
        kind=KIND_BLOCKED, status="open", account_id=actor.account_id, customer_id=keep.id,
        subject="Merge blocked: names differ, signed contract transfer form needed",
        details={k: v for k, v in details.items() if v is not None},
        created_at=now, updated_at=now)
    db.add(request)
    db.flush()
    audit.record(db, "support_request", actor_id=actor.account_id, customer_id=keep.id,
                 terminal_id=caller.terminal_id, kind=KIND_BLOCKED, reference=request.id,
                 other_number=other.number, now=now)
    to = actor.email or keep.email
    if to:
        language = _language(actor, caller)
        mail.enqueue(db, to=to, template="support_request_sent", language=language,
                     params={"name": actor.name, "reference": str(request.id),
                             "subject": translate(language, MSG_REQUEST_SUBJECT)})
    return request.id


def _language(actor: Actor, caller: Caller) -> str:
    """Mails in the account's language; after a customer-number login in the screen's."""
    return (actor.language if actor.account_id is not None else caller.language) or "de"


def _person(customer: Customer) -> str:
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return ", ".join(p for p in (customer.company, name) if p)


@text_input({"other": "other_number"})
def compare(backend: Backend, token: str | None, keep: str, other: str, credential: str,
            caller: Caller) -> Comparison:
    """Check the proof for ``other`` and compare both records (see module doc)."""
    keep_n, other_n = _validate(keep, other, credential)
    now = backend.now()
    _proven(backend, token, caller, other_n, credential)
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=True)
        other_c = _load(db, other_n)
        assert other_c is not None  # proven a moment ago; records are never deleted
        keep_c = _check_pair(db, actor, _load(db, keep_n), other_c)
        rows = diff_rows(keep_c, other_c)
        result = Comparison(kept_number=keep_c.number, other_number=other_c.number, rows=rows,
                            blocked=_blocked(rows),
                            already_merged=other_c.merged_into_id == keep_c.id)
        if result.blocked and not result.already_merged:
            result.reference = _blocked_request(db, actor, caller, keep_c, other_c, rows, now)
        audit.record(db, "merge_compare", actor_id=actor.account_id,
                     customer_id=keep_c.id, terminal_id=caller.terminal_id,
                     kept_number=keep_c.number, other_number=other_c.number,
                     differing_fields=[r.field for r in rows if r.differs],
                     blocked=result.blocked, now=now)
        return result


# --------------------------------------------------------------------------- the order


def _move(db: DbSession, model: Any, source: int, target: int, *extra: Any) -> list[int]:
    """Point every ``model`` row of ``source`` at ``target``; the moved ids."""
    where = [model.customer_id == source, *extra]
    ids = list(db.scalars(select(model.id).where(*where).order_by(model.id)))
    if ids:
        db.execute(update(model).where(*where).values(customer_id=target)
                   .execution_options(synchronize_session=False))
    return ids


def _move_contracts(db: DbSession, keep: Customer, other: Customer) -> list[int]:
    return _move(db, Contract, other.id, keep.id)


def _move_licences(db: DbSession, keep: Customer, other: Customer) -> list[int]:
    return _move(db, LicenceKey, other.id, keep.id)


def _move_requests(db: DbSession, keep: Customer, other: Customer) -> list[int]:
    return _move(db, SupportRequest, other.id, keep.id,
                 SupportRequest.status.in_(OPEN_REQUEST_STATES))


def _move_memberships(db: DbSession, keep: Customer, other: Customer) -> list[int]:
    """Memberships move unless the kept number has one for the same person already."""
    taken = select(Membership.email_key).where(Membership.customer_id == keep.id)
    return _move(db, Membership, other.id, keep.id, Membership.email_key.not_in(taken))


def _move_links(db: DbSession, keep: Customer, other: Customer) -> list[dict[str, Any]]:
    """The other number's account link: its account already holds the kept number, so the
    link is taken off (recorded here, restored by a reversal)."""
    links = list(db.scalars(select(CustomerLink).where(CustomerLink.customer_id == other.id)))
    removed = [{"account_id": link.account_id, "customer_type": link.customer_type,
                "linked_at": link.linked_at.isoformat(), "linked_by": link.linked_by}
               for link in links]
    for link in links:
        db.delete(link)
    return removed


def _fill(keep: Customer, other: Customer) -> dict[str, Any]:
    """Complete empty fields of the kept record from the other one ("Auftrag abschicken")."""
    filled: dict[str, Any] = {}
    for field in FILLABLE:
        if not getattr(keep, field) and getattr(other, field):
            filled[field] = {"old": getattr(keep, field), "new": getattr(other, field)}
            setattr(keep, field, getattr(other, field))
    if not (keep.iban or keep.account_number) and (other.iban or other.account_number):
        for field in ("iban", "bic", "account_number", "bank_code"):
            if getattr(other, field):
                filled[field] = {"old": getattr(keep, field), "new": getattr(other, field)}
                setattr(keep, field, getattr(other, field))
    return filled


def _execute(db: DbSession, keep: Customer, other: Customer, take_over: bool,
             now: dt.datetime) -> dict[str, Any]:
    """Move everything of ``other`` to ``keep`` (in the caller's transaction); ``moved``."""
    moved: dict[str, Any] = {
        "contracts": _move_contracts(db, keep, other),
        "licences": _move_licences(db, keep, other),
        "requests": _move_requests(db, keep, other),
        "memberships": _move_memberships(db, keep, other),
        "links": _move_links(db, keep, other),
        "filled": {} if take_over else _fill(keep, other),
    }
    other.merged_into_id = keep.id
    other.merged_at = now
    db.execute(update(Session).where(Session.customer_id == other.id, Session.account_id.is_(None),
                                     Session.ended_at.is_(None))
               .values(ended_at=now, ended_reason="merged"))
    return moved


def _result(order: MergeOrder, keep: Customer, other: Customer, *, already: bool,
            mailed: bool = False) -> MergeResult:
    moved = order.moved or {}
    return MergeResult(order_id=order.id, kept_number=keep.number, merged_number=other.number,
                       contracts=len(moved.get("contracts", [])),
                       licences=len(moved.get("licences", [])),
                       requests=len(moved.get("requests", [])), take_over=order.take_over,
                       already=already, mailed=mailed)


def _existing_order(db: DbSession, keep: Customer, other: Customer) -> MergeOrder | None:
    return db.scalars(select(MergeOrder).where(
        MergeOrder.kept_customer_id == keep.id, MergeOrder.merged_customer_id == other.id,
        MergeOrder.status == "done").order_by(MergeOrder.id.desc())).first()


@text_input({"other": "other_number"})
def submit(backend: Backend, token: str | None, keep: str, other: str, credential: str,
           take_over: bool, caller: Caller) -> MergeResult:
    """Execute the merge order (see module doc). Idempotent for the same pair."""
    keep_n, other_n = _validate(keep, other, credential)
    now = backend.now()
    _proven(backend, token, caller, other_n, credential)
    with backend.transaction() as db:
        # Lock first: on SQLite the write lock must be the transaction's first statement,
        # or a second terminal that read before the first one committed could not write.
        _lock_pair(db, (keep_n, other_n))
        actor = _actor(db, backend, token, recent=True)
        other_c = _load(db, other_n)
        assert other_c is not None  # proven a moment ago; records are never deleted
        keep_c = _load(db, keep_n)
        if keep_c is not None and other_c.merged_into_id == keep_c.id:
            existing = _existing_order(db, keep_c, other_c)
            if existing is not None:
                return _result(existing, keep_c, other_c, already=True)
        keep_c = _check_pair(db, actor, keep_c, other_c)
        rows = diff_rows(keep_c, other_c)
        if _blocked(rows):
            raise NotAllowed(MSG_BLOCKED)
        moved = _execute(db, keep_c, other_c, take_over, now)
        order = MergeOrder(account_id=actor.account_id, kept_customer_id=keep_c.id,
                           merged_customer_id=other_c.id, take_over=take_over,
                           differences=_difference_details(rows), moved=moved, status="done",
                           created_at=now)
        db.add(order)
        db.flush()
        audit.record(db, "merge_order", actor_id=actor.account_id, customer_id=keep_c.id,
                     terminal_id=caller.terminal_id, order=order.id,
                     kept_number=keep_c.number, merged_number=other_c.number,
                     differing_fields=[r.field for r in rows if r.differs],
                     choice="take_over" if take_over else "submit",
                     filled_fields=sorted(moved["filled"]),
                     contracts=len(moved["contracts"]), licences=len(moved["licences"]),
                     requests=len(moved["requests"]), links=len(moved["links"]),
                     customer_session=actor.account_id is None, now=now)
        mailed = _mail_confirmation(db, actor, keep_c, other_c, order, caller)
        return _result(order, keep_c, other_c, already=False, mailed=mailed)


def _mail_confirmation(db: DbSession, actor: Actor, keep: Customer, other: Customer,
                       order: MergeOrder, caller: Caller) -> bool:
    to = actor.email or keep.email
    if not to:
        return False
    moved = order.moved
    mail.enqueue(db, to=to, template="merge_done", language=_language(actor, caller),
                 params={"name": actor.name, "kept": keep.number, "merged": other.number,
                         "reference": str(order.id),
                         "contracts": str(len(moved["contracts"])),
                         "licences": str(len(moved["licences"]))})
    return True


# --------------------------------------------------------------------------- reversal


def _restore(db: DbSession, model: Any, ids: list[int], keep_id: int, other_id: int) -> int:
    count = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        count += db.execute(update(model).where(model.id.in_(chunk), model.customer_id == keep_id)
                            .values(customer_id=other_id)
                            .execution_options(synchronize_session=False)).rowcount or 0
    return count


def _restore_links(db: DbSession, other: Customer, links: list[dict[str, Any]]) -> None:
    for link in links:
        clash = db.scalar(select(CustomerLink.id).where(
            (CustomerLink.customer_id == other.id)
            | ((CustomerLink.account_id == link["account_id"])
               & (CustomerLink.customer_type == link["customer_type"]))))
        if clash is None:
            db.add(CustomerLink(account_id=link["account_id"], customer_id=other.id,
                                customer_type=link["customer_type"],
                                linked_at=dt.datetime.fromisoformat(link["linked_at"]),
                                linked_by=link["linked_by"]))


def reverse_merge(backend: Backend, order_id: int, actor_id: int | None, *,
                  reason: str | None = None, terminal_id: str | None = None) -> ReverseResult:
    """Undo a merge order within 30 days: everything ``moved`` lists goes back to the other
    number (rows moved on since stay), filled fields are restored, the mark is removed.

    The back office calls this behind its supervisor check; audited with ``actor_id``.
    """
    now = backend.now()
    with backend.transaction() as db:
        order = db.get(MergeOrder, order_id)
        if order is None:
            raise NotFound(MSG_NOT_DONE)
        keep, other = db.get(Customer, order.kept_customer_id), db.get(Customer,
                                                                       order.merged_customer_id)
        assert keep is not None and other is not None
        _lock_pair(db, (keep.number, other.number))
        db.refresh(order)
        if order.status != "done":
            raise Conflict(MSG_NOT_DONE)
        if now - order.created_at > dt.timedelta(days=REVERSE_DAYS):
            raise Conflict(MSG_TOO_LATE)
        db.refresh(keep)
        db.refresh(other)
        moved = order.moved or {}
        contracts = _restore(db, Contract, moved.get("contracts", []), keep.id, other.id)
        licences = _restore(db, LicenceKey, moved.get("licences", []), keep.id, other.id)
        _restore(db, SupportRequest, moved.get("requests", []), keep.id, other.id)
        _restore(db, Membership, moved.get("memberships", []), keep.id, other.id)
        for field, change in (moved.get("filled") or {}).items():
            if getattr(keep, field) == change["new"]:
                setattr(keep, field, change["old"])
        other.merged_into_id = None
        other.merged_at = None
        db.flush()
        _restore_links(db, other, moved.get("links", []))
        order.status = "reversed"
        order.reversed_at = now
        order.reversed_by_id = actor_id
        audit.record(db, "merge_reversed", actor_id=actor_id, customer_id=keep.id,
                     terminal_id=terminal_id, order=order.id, kept_number=keep.number,
                     merged_number=other.number, contracts=contracts, licences=licences,
                     reason=(reason or "")[:200] or None, now=now)
        return ReverseResult(order_id=order.id, kept_number=keep.number,
                             merged_number=other.number, contracts=contracts,
                             licences=licences)


# --------------------------------------------------------------------------- transfer form


def _own_request(db: DbSession, actor: Actor, reference: int) -> SupportRequest:
    request = db.get(SupportRequest, reference)
    mine = request is not None and request.kind == KIND_BLOCKED and (
        (actor.account_id is not None and request.account_id == actor.account_id)
        or (actor.account_id is None and request.account_id is None
            and request.customer_id == actor.customer_id))
    if not mine:
        raise NotFound(MSG_NO_REQUEST)
    assert request is not None
    return request


def _latin1(value: object) -> str:
    """fpdf2's core fonts speak Latin-1: everything else becomes '?'."""
    return str(value or "").encode("latin-1", "replace").decode("latin-1")


def _form_pdf(db: DbSession, request: SupportRequest, language: str) -> bytes:
    from fpdf import FPDF

    def t(msgid: str, **params: object) -> str:
        return _latin1(translate(language, msgid, **params))

    details = request.details
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(translate(language, FORM_TITLE)))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, t(FORM_TITLE), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, t(FORM_INTRO, reference=request.id), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for key, label in (("other_number", FORM_FROM), ("kept_number", FORM_TO)):
        customer = db.scalars(select(Customer).where(
            Customer.number == details.get(key))).first()
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 6, t(label, number=details.get(key, "")),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        if customer is not None:
            for field, field_label, _blocking in COMPARED[:6]:
                pdf.multi_cell(0, 5, f"{t(field_label)}: {_latin1(_value(customer, field))}",
                               new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.multi_cell(0, 5, t(FORM_DECLARATION), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    for line in (FORM_SIGN_OLD, FORM_SIGN_NEW):
        pdf.multi_cell(0, 5, "_" * 60, new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 5, t(line), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(10)
    return bytes(pdf.output())


FORM_TITLE = N_("Contract transfer form")
FORM_INTRO = N_("Merging of customer numbers, reference {reference}. Please print this form, "
                "have it signed by both contract partners and send it to our service desk.")
FORM_FROM = N_("Previous contract partner (customer number {number})")
FORM_TO = N_("New contract partner (customer number {number})")
FORM_DECLARATION = N_("We agree that all contracts, licences and data of the previous contract "
                      "partner are transferred to the new contract partner.")
FORM_SIGN_OLD = N_("Place, date, signature of the previous contract partner")
FORM_SIGN_NEW = N_("Place, date, signature of the new contract partner")


def transfer_form(backend: Backend, token: str | None, reference: int, language: str = "de"
                  ) -> FormFile:
    """The contract-transfer form of a blocked merge as a PDF (only for its requester)."""
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=False)
        request = _own_request(db, actor, reference)
        data = _form_pdf(db, request, language)
        return FormFile(name=f"vertragsuebergabe-{request.id}.pdf", data=data)


def save_transfer_form(backend: Backend, token: str | None, reference: int,
                       language: str = "de") -> str:
    """Save the form into ``Settings.resolved_export_dir``; the path."""
    form = transfer_form(backend, token, reference, language)
    folder = Path(backend.settings.resolved_export_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / form.name
    path.write_bytes(form.data)
    return str(path)


def mail_transfer_form(backend: Backend, token: str | None, reference: int,
                       caller: Caller) -> str:
    """Mail the form (PDF attached) to the customer's address; the address."""
    language = caller.language or "de"
    form = transfer_form(backend, token, reference, language)
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=False)
        request = _own_request(db, actor, reference)
        keep = db.get(Customer, request.customer_id) if request.customer_id else None
        to = actor.email or (keep.email if keep is not None else None)
        if not to:
            raise ValidationFailed(MSG_NO_EMAIL)
        mail.enqueue(db, to=to, template="merge_form", language=language,
                     params={"name": actor.name, "reference": str(request.id),
                             "kept": str(request.details.get("kept_number", "")),
                             "other": str(request.details.get("other_number", ""))},
                     attachment=(form.name, form.data))
        audit.record(db, "merge_form_mailed", actor_id=actor.account_id,
                     customer_id=request.customer_id, terminal_id=caller.terminal_id,
                     reference=request.id, now=backend.now())
        return to


__all__ = [
    "Comparison",
    "DiffRow",
    "MergeOptions",
    "MergeResult",
    "ReverseResult",
    "compare",
    "diff_rows",
    "mail_transfer_form",
    "options",
    "reauthenticate",
    "require_recent_auth",
    "reverse_merge",
    "save_transfer_form",
    "submit",
    "transfer_form",
]
