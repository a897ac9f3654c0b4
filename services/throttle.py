"""Counters against guessing, stored in the database (``db.models.Throttle``).

One row per (action, scope, key), e.g. ("login", "account", "42") or ("login", "terminal",
"kiosk-3"). They hold across processes and restarts. Reusable by every flow that checks a
secret (login, codes, customer numbers, contracts, licence keys)::

    status = throttle.check(session, "login", "account", key, LOGIN_ACCOUNT, now)
    ...
    status = throttle.fail(session, "login", "account", key, LOGIN_ACCOUNT, now)
    throttle.reset(session, "login", "account", key)

``fail`` locks the row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite holds its write lock
after the insert), so concurrent failures count exactly; a missing row is inserted with
``ON CONFLICT DO NOTHING`` so two first failures never collide.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.engine import for_update
from db.models import Throttle
from services.errors import N_

#: What a caller who must wait is told (``params={"seconds": ...}``): per account or key, and
#: per terminal. Every flow that throttles uses these.
MSG_WAIT = N_("Too many failed attempts. Please wait {seconds} seconds and try again.")
MSG_TERMINAL_WAIT = N_("Too many failed attempts at this terminal. Please wait {seconds} seconds.")


@dataclass(frozen=True)
class Policy:
    """When to make a caller wait and when to freeze the key for good.

    ``max_failures`` consecutive failures start a wait of ``base_wait``; each further failure
    doubles it, up to ``max_wait``. ``freeze_after`` failures freeze the key (a lockout that
    only ``reset``/``unfreeze`` lifts). With a ``window``, failures older than the window
    (counted from the first one) are forgotten; without one they count until ``reset``.
    """

    max_failures: int = 5
    window: dt.timedelta | None = None
    base_wait: dt.timedelta = dt.timedelta(seconds=60)
    max_wait: dt.timedelta = dt.timedelta(minutes=15)
    freeze_after: int | None = None

    def wait_after(self, failures: int) -> dt.timedelta:
        if failures < self.max_failures:
            return dt.timedelta(0)
        doublings = min(failures - self.max_failures, 32)
        return min(self.base_wait * (2**doublings), self.max_wait)


# Per account: 5 failures -> 60 s, doubling, at most 15 min; locked after 100 in a row.
LOGIN_ACCOUNT = Policy(max_failures=5, freeze_after=100)
# Per terminal: a kiosk that fails 30 times within 15 minutes waits too (many accounts tried).
LOGIN_TERMINAL = Policy(max_failures=30, window=dt.timedelta(minutes=15))


@dataclass(frozen=True)
class Status:
    failures: int = 0
    blocked_until: dt.datetime | None = None
    frozen: bool = False

    def wait_seconds(self, now: dt.datetime) -> int:
        if self.blocked_until is None or self.blocked_until <= now:
            return 0
        return max(1, int((self.blocked_until - now).total_seconds() + 0.999))

    def allowed(self, now: dt.datetime) -> bool:
        return not self.frozen and self.wait_seconds(now) == 0


def _status(row: Throttle | None, policy: Policy, now: dt.datetime) -> Status:
    if row is None:
        return Status()
    if policy.window is not None and row.window_start + policy.window <= now and not row.frozen:
        return Status()
    return Status(row.failures, row.blocked_until, row.frozen)


#: The state of a counter row read by the caller's own query (None: no failures).
status_of = _status


def _where(action: str, scope: str, key: str):  # type: ignore[no-untyped-def]
    return (Throttle.action == action, Throttle.scope == scope, Throttle.key == key[:128])


def check(
    session: Session, action: str, scope: str, key: str, policy: Policy, now: dt.datetime
) -> Status:
    """The current state without changing it (no lock)."""
    row = session.scalars(select(Throttle).where(*_where(action, scope, key))).first()
    return _status(row, policy, now)


def check_many(
    session: Session, checks: list[tuple[str, str, str, Policy]], now: dt.datetime
) -> list[Status]:
    """Several ``check`` calls in one query: [(action, scope, key, policy), ...]."""
    conditions = [and_(*_where(action, scope, key)) for action, scope, key, _ in checks]
    rows = {(r.action, r.scope, r.key): r
            for r in session.scalars(select(Throttle).where(or_(*conditions)))}
    return [_status(rows.get((action, scope, key[:128])), policy, now)
            for action, scope, key, policy in checks]


def _locked_row(session: Session, action: str, scope: str, key: str, now: dt.datetime) -> Throttle:
    dialect = session.get_bind().dialect.name
    values = dict(action=action, scope=scope, key=key[:128], failures=0, window_start=now,
                  frozen=False)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Throttle).values(**values).on_conflict_do_nothing(
        index_elements=["action", "scope", "key"]
    )
    session.execute(stmt)
    query = for_update(select(Throttle).where(*_where(action, scope, key[:128])), session)
    # populate_existing: the row may be in the identity map with stale values.
    return session.scalars(query.execution_options(populate_existing=True)).one()


def fail(
    session: Session, action: str, scope: str, key: str, policy: Policy, now: dt.datetime
) -> Status:
    """Count one failure (exactly, under a row lock) and return the new state."""
    row = _locked_row(session, action, scope, key, now)
    if policy.window is not None and row.window_start + policy.window <= now and not row.frozen:
        row.failures = 0
        row.window_start = now
        row.blocked_until = None
    row.failures += 1
    row.last_failure_at = now
    wait = policy.wait_after(row.failures)
    row.blocked_until = now + wait if wait else None
    if policy.freeze_after is not None and row.failures >= policy.freeze_after:
        row.frozen = True
    session.flush()
    return Status(row.failures, row.blocked_until, row.frozen)


def reset(session: Session, action: str, scope: str, key: str) -> None:
    """Forget all failures (after a success, a password reset or an agent's unlock)."""
    session.execute(delete(Throttle).where(*_where(action, scope, key[:128])))


unfreeze = reset

#: Counters without a failure for this long are forgotten by ``purge_stale``.
STALE_AFTER = dt.timedelta(days=30)


def purge_stale(session: Session, now: dt.datetime, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Delete counters whose last failure is older than ``older_than`` (housekeeping).

    Frozen keys and keys still waiting stay: only the service desk lifts a freeze.
    """
    cutoff = now - older_than
    result = session.execute(
        delete(Throttle).where(
            Throttle.frozen.is_(False),
            or_(Throttle.blocked_until.is_(None), Throttle.blocked_until < now),
            or_(Throttle.last_failure_at < cutoff,
                and_(Throttle.last_failure_at.is_(None), Throttle.window_start < cutoff)),
        )
    )
    return result.rowcount or 0


__all__ = ["LOGIN_ACCOUNT", "LOGIN_TERMINAL", "MSG_TERMINAL_WAIT", "MSG_WAIT", "STALE_AFTER",
           "Policy", "Status", "check",
           "check_many", "fail", "purge_stale", "reset", "unfreeze"]
