"""Reversing a merge order in the back office, within 30 days (guide 004).

``reverse_merge`` (called by ``services.backoffice_actions`` behind its supervisor check)
puts back everything ``MergeOrder.moved`` lists (rows moved on since stay where they are),
restores the fields the order filled in and removes the merge mark, under the same row locks
as the order.
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
    SupportRequest,
)
from services import audit
from services.errors import N_, Conflict, NotFound
from services.merge.proof import _lock_pair

if TYPE_CHECKING:
    from services.backend import Backend

REVERSE_DAYS = 30
MSG_NOT_DONE = N_("This merge order cannot be reversed (it was reversed already).")
MSG_TOO_LATE = N_("A merge can only be reversed within 30 days.")


class ReverseResult(BaseModel):
    order_id: int
    kept_number: str
    merged_number: str
    contracts: int
    licences: int


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
