"""The desk's work queues (#9): open requests per kind, and what an agent does with one.

A queue is the open (``open`` or ``taken``) ``SupportRequest`` rows of one ``kind``
(``REQUEST_KINDS``: link conflicts, address reviews, blocked contract links and merges,
throttle alarms, deletions awaiting a supervisor). One queue is not a table of its own:
``STALE_ORG``, the company membership requests nobody decided for ``STALE_AFTER`` (or that
no super admin can decide), read from the membership table. An agent takes a request, comments
on it (internal, not mailed) and closes it as resolved or rejected; the customer is mailed
the outcome. ``open_queue_counts`` gives the sizes inside a caller's transaction (metrics,
``kiosk status``, the dashboard).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from db.engine import for_update
from db.models import Account, Customer, Membership, RequestComment, SupportRequest
from services import audit, mail, sessions, throttle
from services.backoffice.common import (
    MSG_CLOSED,
    MSG_NO_REQUEST,
    account_names,
    agent_session,
    clean_note,
    customer_name,
    field_text,
)
from services.errors import Conflict, NotFound, ValidationFailed
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

#: SupportRequest.kind values the desk works on (shared names, see DESIGN notes of #9).
REQUEST_KINDS = ("link_conflict_taken", "link_conflict_type", "address_review",
                 "contract_link_blocked", "merge_blocked", throttle.KIND_ALARM,
                 "privacy_deletion")  # #16: desk deletions for a supervisor (privacy.desk)
#: Not a row: pending memberships older than ``STALE_AFTER`` (read from the membership table).
STALE_ORG = "org_request_stale"
QUEUES = (*REQUEST_KINDS, STALE_ORG)
STALE_AFTER = dt.timedelta(days=3)
OPEN_STATES = ("open", "taken")


class CommentRow(BaseModel):
    author: str | None
    body: str
    created_at: dt.datetime


class QueueItem(BaseModel):
    id: int
    kind: str
    status: str
    subject: str | None
    customer_id: int | None
    customer_number: str | None
    account_name: str | None
    account_email: str | None
    assigned_to: str | None
    created_at: dt.datetime
    details: list[tuple[str, str]]
    comments: list[CommentRow] = []


def queue_counts(backend: Backend, token: str | None) -> dict[str, int]:
    """Open (open or taken) items per queue, stale organisation requests included."""
    with backend.transaction() as db:
        agent_session(db, backend, token)
        return _counts(db, backend.now())


def _counts(db: DbSession, now: dt.datetime) -> dict[str, int]:
    counts = dict.fromkeys(QUEUES, 0)
    for kind, count in db.execute(select(SupportRequest.kind, func.count()).where(
            SupportRequest.status.in_(OPEN_STATES)).group_by(SupportRequest.kind)):
        if kind in counts:
            counts[kind] = count
    counts[STALE_ORG] = db.scalar(select(func.count()).select_from(Membership).where(
        *_stale(now))) or 0
    return counts


#: The open items per queue in the caller's transaction (``services.metrics``, ``kiosk status``).
open_queue_counts = _counts


def _stale(now: dt.datetime) -> tuple[Any, ...]:
    """Requests waiting 3 days, and at once those of a company without any super admin to
    decide (none with an active membership, none known from the records)."""
    admin = aliased(Membership)
    nobody = ~exists().where(admin.customer_id == Membership.customer_id,
                             admin.role == "super_admin",
                             admin.state.in_(("active", "approved", "invited")))
    return (Membership.state == "pending_approval",
            or_(Membership.created_at <= now - STALE_AFTER, nobody))


def queue_items(backend: Backend, token: str | None, kind: str) -> list[QueueItem]:
    """The open items of one queue, oldest first."""
    with backend.transaction() as db:
        agent_session(db, backend, token)
        if kind not in QUEUES:
            raise NotFound(MSG_NO_REQUEST)
        names = account_names(db)
        if kind == STALE_ORG:
            rows = db.scalars(select(Membership).where(*_stale(backend.now()))
                              .order_by(Membership.created_at).limit(200))
            return [_membership_item(db, m) for m in rows]
        requests = db.scalars(select(SupportRequest).where(
            SupportRequest.kind == kind, SupportRequest.status.in_(OPEN_STATES))
            .order_by(SupportRequest.created_at, SupportRequest.id).limit(200))
        return [request_item(db, r, names) for r in requests]


def request_item(db: DbSession, request: SupportRequest, names: dict[int, str]) -> QueueItem:
    account = db.get(Account, request.account_id) if request.account_id else None
    customer = db.get(Customer, request.customer_id) if request.customer_id else None
    comments = db.scalars(select(RequestComment).where(RequestComment.request_id == request.id)
                          .order_by(RequestComment.id))
    return QueueItem(
        id=request.id, kind=request.kind, status=request.status, subject=request.subject,
        customer_id=request.customer_id, customer_number=customer.number if customer else None,
        account_name=sessions.display_name(account) if account else None,
        account_email=account.email if account else None,
        assigned_to=names[request.assigned_to_id] if request.assigned_to_id else None,
        created_at=request.created_at,
        details=[(str(k), field_text(v)) for k, v in sorted(request.details.items())],
        comments=[CommentRow(author=names[c.author_id] if c.author_id else None, body=c.body,
                             created_at=c.created_at) for c in comments])


def _membership_item(db: DbSession, membership: Membership) -> QueueItem:
    customer = db.get(Customer, membership.customer_id)
    account = db.get(Account, membership.account_id) if membership.account_id else None
    return QueueItem(
        id=membership.id, kind=STALE_ORG, status="open", subject=None,
        customer_id=membership.customer_id,
        customer_number=customer.number if customer else None,
        account_name=sessions.display_name(account) if account else None,
        account_email=membership.email_key, assigned_to=None, created_at=membership.created_at,
        details=[("role", membership.role), ("organisation",
                                             customer_name(customer) if customer else "")])


def _open_request(db: DbSession, backend: Backend, request_id: int) -> SupportRequest:
    request = db.scalars(for_update(
        select(SupportRequest).where(SupportRequest.id == request_id), db)).first()
    if request is None:
        raise NotFound(MSG_NO_REQUEST)
    if request.status not in OPEN_STATES:
        raise Conflict(MSG_CLOSED)
    return request


def take(backend: Backend, token: str | None, request_id: int) -> QueueItem:
    """Assign a request to the calling agent."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        request = _open_request(db, backend, request_id)
        now = backend.now()
        request.status, request.assigned_to_id, request.updated_at = "taken", agent.id, now
        audit.record(db, "desk_request_taken", actor_id=agent.id,
                     customer_id=request.customer_id, reference=request.id, kind=request.kind,
                     now=now)
        db.flush()
        return request_item(db, request, account_names(db))


@text_input()
def comment(backend: Backend, token: str | None, request_id: int, body: str) -> QueueItem:
    """An internal comment on a request (not mailed)."""
    text = clean_note(body, required=True)
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        request = _open_request(db, backend, request_id)
        now = backend.now()
        db.add(RequestComment(request_id=request.id, author_id=agent.id, body=text,
                              created_at=now))
        request.updated_at = now
        audit.record(db, "desk_request_comment", actor_id=agent.id,
                     customer_id=request.customer_id, reference=request.id, now=now)
        db.flush()
        return request_item(db, request, account_names(db))


@text_input()
def close(backend: Backend, token: str | None, request_id: int, outcome: str,
          note: str = "") -> QueueItem:
    """Resolve (``outcome="resolved"``) or reject a request; the customer gets a mail with
    the note. Organisation requests (``STALE_ORG``) are closed with ``close_membership``."""
    if outcome not in ("resolved", "rejected"):
        raise ValidationFailed(MSG_NO_REQUEST)
    text = clean_note(note, required=outcome == "rejected")
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        request = _open_request(db, backend, request_id)
        now = backend.now()
        request.status, request.resolution, request.updated_at = outcome, text or None, now
        if request.assigned_to_id is None:
            request.assigned_to_id = agent.id
        audit.record(db, f"desk_request_{outcome}", actor_id=agent.id,
                     customer_id=request.customer_id, reference=request.id, kind=request.kind,
                     now=now)
        account = db.get(Account, request.account_id) if request.account_id else None
        if account is not None and account.email:
            mail.enqueue(db, to=account.email, template=f"desk_request_{outcome}",
                         language=account.language,
                         params={"name": sessions.display_name(account),
                                 "reference": str(request.id),
                                 "subject": request.subject or "", "note": text})
        db.flush()
        return request_item(db, request, account_names(db))


@text_input()
def close_membership(backend: Backend, token: str | None, membership_id: int, outcome: str,
                     note: str = "") -> None:
    """A stale organisation request: approve (``resolved``) or reject it for the company's
    administrators; the person is told by mail."""
    if outcome not in ("resolved", "rejected"):
        raise ValidationFailed(MSG_NO_REQUEST)
    text = clean_note(note, required=outcome == "rejected")
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        membership = db.scalars(for_update(
            select(Membership).where(Membership.id == membership_id), db)).first()
        if membership is None:
            raise NotFound(MSG_NO_REQUEST)
        if membership.state != "pending_approval":
            raise Conflict(MSG_CLOSED)
        now = backend.now()
        membership.state = "approved" if outcome == "resolved" else "rejected"
        membership.decided_by_id, membership.decided_at = agent.id, now
        membership.reason = text or None
        audit.record(db, f"desk_membership_{membership.state}", actor_id=agent.id,
                     customer_id=membership.customer_id, reference=membership.id, now=now)
        customer = db.get(Customer, membership.customer_id)
        account = db.get(Account, membership.account_id) if membership.account_id else None
        mail.enqueue(db, to=account.email if account and account.email else membership.email_key,
                     template=f"desk_membership_{membership.state}",
                     language=account.language if account else backend.settings.language,
                     params={"name": sessions.display_name(account) if account else "",
                             "organisation": customer_name(customer) if customer else "",
                             "note": text})
