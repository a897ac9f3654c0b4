"""The desk's dashboard (#9): open queue sizes and, per day, what customers did.

For the last ``DASHBOARD_DAYS`` days, counted from the audit log with one grouped query:
registrations, links (customer numbers and contracts), licence redemptions and failed attempts
(``SERIES`` names the audit events of each line). The queue sizes are ``queues``'.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import func, select

from db.models import AuditEvent
from services.backoffice.common import agent_session
from services.backoffice.queues import open_queue_counts

if TYPE_CHECKING:
    from services.backend import Backend

#: Series of the dashboard: name -> (audit event, outcome or None for "any failure").
SERIES = {
    "registrations": (("registration",), "ok"),
    "links": (("customer_linked", "contract_linked"), "ok"),
    "redemptions": (("licence_redeemed",), "ok"),
    "failures": (("login", "customer_link", "licence_redeem", "contract_link",
                  "email_verification", "password_reset", "customer_login"), "failed"),
}
DASHBOARD_DAYS = 14


class Dashboard(BaseModel):
    queues: dict[str, int]
    days: list[dt.date]
    series: dict[str, list[int]]


def dashboard(backend: Backend, token: str | None, days: int = DASHBOARD_DAYS) -> Dashboard:
    """Open queue sizes and, per day, registrations, links, redemptions and failed attempts."""
    with backend.transaction() as db:
        agent_session(db, backend, token)
        now = backend.now()
        first = now.date() - dt.timedelta(days=days - 1)
        start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        events = {e for names, _ in SERIES.values() for e in names}
        day = func.date(AuditEvent.at)
        totals: dict[tuple[str, str, str], int] = defaultdict(int)
        for when, event, outcome, count in db.execute(
                select(day, AuditEvent.event, AuditEvent.outcome, func.count())
                .where(AuditEvent.at >= start, AuditEvent.event.in_(events))
                .group_by(day, AuditEvent.event, AuditEvent.outcome)):
            totals[(str(when)[:10], event, outcome)] += count
        dates = [first + dt.timedelta(days=i) for i in range(days)]
        series = {
            name: [sum(totals.get((d.isoformat(), e, outcome), 0) for e in names)
                   for d in dates]
            for name, (names, outcome) in SERIES.items()
        }
        return Dashboard(queues=open_queue_counts(db, now), days=dates, series=series)
