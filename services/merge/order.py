"""Step 3 of the merge wizard: the merge order and what it moves (guide 004).

``submit(backend, token, keep, other, credential, take_over, caller)`` checks the proof again
and runs the order in one transaction under row locks on both records: contracts, licences,
customer links, memberships and open support requests move to the kept number; the other
record stays, with ``merged_into_id``/``merged_at`` set and its data untouched;
``MergeOrder.moved`` lists every moved row so that ``services.merge.reversal`` can restore it.
Submitting the same pair again returns the first order (``already=True``).

"Daten übernehmen" (``take_over=True``) keeps the kept number's data as they are. "Auftrag
abschicken" (``take_over=False``) also completes fields that are empty in the kept record
with the other record's values (recorded in ``moved["filled"]``, restored by a reversal).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from db.models import (
    Contract,
    Customer,
    CustomerLink,
    LicenceKey,
    Membership,
    MergeOrder,
    Session,
    SupportRequest,
)
from services import audit, mail
from services.caller import Caller
from services.errors import NotAllowed
from services.merge.actor import Actor, _actor, _language
from services.merge.comparison import OPEN_REQUEST_STATES
from services.merge.diff import MSG_BLOCKED, _blocked, _difference_details, diff_rows
from services.merge.proof import _check_pair, _load, _lock_pair, _proven, _validate
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

# Fields "Auftrag abschicken" may complete in the kept record (bank data as a pair).
FILLABLE = ("street", "postal_code", "city", "phone", "mobile", "email")


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
