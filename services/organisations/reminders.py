"""Reminders and expiry of waiting requests (``housekeeping``, run from the app's housekeeping
timer): the super admins are reminded once of requests waiting ``REMIND_AFTER`` (3 days);
requests waiting ``EXPIRE_AFTER`` (30 days) and unconfirmed ones after ``UNCONFIRMED_AFTER``
(7 days) expire, and their stub accounts are removed.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import and_, or_, select

from db.models import Account, Customer, Membership
from services import audit, mail
from services.organisations.common import _company_name, _drop_stub, _name, _notify_super_admins

if TYPE_CHECKING:
    from services.backend import Backend


REMIND_AFTER = dt.timedelta(days=3)
EXPIRE_AFTER = dt.timedelta(days=30)
UNCONFIRMED_AFTER = dt.timedelta(days=7)
HOUSEKEEPING_BATCH = 500


class HousekeepingReport(BaseModel):
    reminded: int = 0
    expired: int = 0


def housekeeping(backend: Backend) -> HousekeepingReport:
    """Remind the super admins of requests waiting 3 days (once), expire requests waiting 30
    days and unconfirmed ones after 7 days. Runs from the app's housekeeping timer."""
    now = backend.now()
    report = HousekeepingReport()
    with backend.transaction() as db:
        stale = list(db.scalars(select(Membership).where(
            or_(and_(Membership.state == "pending_approval",
                     Membership.created_at <= now - EXPIRE_AFTER),
                and_(Membership.state == "pending_email",
                     Membership.created_at <= now - UNCONFIRMED_AFTER)),
        ).order_by(Membership.id).limit(HOUSEKEEPING_BATCH)))
        for membership in stale:
            account = db.get(Account, membership.account_id) if membership.account_id else None
            customer = db.get(Customer, membership.customer_id)
            if membership.state == "pending_approval" and account is not None and customer:
                mail.enqueue(db, to=account.email or membership.email_key, template="org_expired",
                             language=account.language,
                             params={"name": _name(account), "company": _company_name(customer)})
            audit.record(db, "org_request_expired", actor_id=membership.account_id,
                         customer_id=membership.customer_id, state=membership.state, now=now)
            membership.state = "expired"
            membership.decided_at = now
            _drop_stub(db, membership)
            report.expired += 1
        due = list(db.scalars(select(Membership).where(
            Membership.state == "pending_approval", Membership.reminded_at.is_(None),
            Membership.created_at <= now - REMIND_AFTER,
        ).order_by(Membership.customer_id, Membership.id).limit(HOUSEKEEPING_BATCH)))
        by_company: dict[int, list[Membership]] = {}
        for membership in due:
            by_company.setdefault(membership.customer_id, []).append(membership)
        for customer_id, waiting in by_company.items():
            customer = db.get(Customer, customer_id)
            if customer is None:
                continue
            _notify_super_admins(db, backend, customer, "org_reminder",
                                 {"count": len(waiting)})
            for membership in waiting:
                membership.reminded_at = now
            audit.record(db, "org_request_reminder", customer_id=customer_id,
                         count=len(waiting), now=now)
            report.reminded += len(waiting)
    return report
