"""The super admins' approvals queue: ``pending_requests`` (one page, oldest first, keyset
paging) and ``decide`` (approve — the applicant gets the completion mail — or reject with an
optional reason; of two simultaneous decisions one wins, the other gets ``AlreadyDecided``).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import func, or_, select, update

from db.models import Account, Customer, Membership
from services import audit, mail
from services.accounts.common import raise_after_commit
from services.caller import Caller
from services.errors import N_, Conflict, NotFound, ValidationFailed
from services.normalize import MSG_CONTROL, text_input
from services.organisations.common import (
    MSG_NOT_FOUND,
    PURPOSE_COMPLETE,
    Result,
    _admin,
    _company_name,
    _drop_stub,
    _issue,
    _name,
)
from services.organisations.completion import _mail_complete

if TYPE_CHECKING:
    from services.backend import Backend


PAGE_SIZE = 20
MAX_REASON = 500

MSG_ALREADY_DECIDED = N_("Another admin has already decided on this request.")
MSG_APPROVED = N_("The request of {name} has been approved. {name} receives an e-mail to "
                  "complete the registration.")
MSG_REJECTED = N_("The request of {name} has been rejected. {name} is informed by e-mail.")
MSG_REASON_LONG = N_("The reason may be at most 500 characters long.")


class AlreadyDecided(Conflict):
    """Another super admin decided this request a moment earlier."""

    code = "already_decided"


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


def _reason(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text_ = unicodedata.normalize("NFKC", value).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text_ if ch != "\n"):
        raise ValidationFailed(MSG_CONTROL, fields={"reason": MSG_CONTROL})
    if len(text_) > MAX_REASON:
        raise ValidationFailed(MSG_REASON_LONG, fields={"reason": MSG_REASON_LONG})
    return text_


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
