"""DB-stored throttling counters: waits, doubling, freeze, windows, exact concurrent counts."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select

from db.models import Throttle
from services import throttle
from services.throttle import LOGIN_ACCOUNT, Policy

S = dt.timedelta(seconds=1)


def test_policy_waits():
    waits = [LOGIN_ACCOUNT.wait_after(n) for n in range(1, 12)]
    assert waits[:4] == [dt.timedelta(0)] * 4
    assert [w.total_seconds() for w in waits[4:]] == [60, 120, 240, 480, 900, 900, 900]


def test_fail_check_reset(backend, clock):
    now = clock.now
    with backend.transaction() as db:
        for _ in range(4):
            status = throttle.fail(db, "login", "account", "a1", LOGIN_ACCOUNT, now)
        assert status.allowed(now)
        status = throttle.fail(db, "login", "account", "a1", LOGIN_ACCOUNT, now)
        assert status.failures == 5 and status.wait_seconds(now) == 60
    with backend.transaction() as db:
        state = throttle.check(db, "login", "account", "a1", LOGIN_ACCOUNT, now + 30 * S)
        assert not state.allowed(now + 30 * S) and state.wait_seconds(now + 30 * S) == 30
        assert state.allowed(now + 60 * S)
        assert throttle.check(db, "login", "account", "a2", LOGIN_ACCOUNT, now).failures == 0
        throttle.reset(db, "login", "account", "a1")
    with backend.transaction() as db:
        assert throttle.check(db, "login", "account", "a1", LOGIN_ACCOUNT, now).failures == 0


def test_freeze(backend, clock):
    policy = Policy(max_failures=2, freeze_after=3)
    with backend.transaction() as db:
        for _ in range(3):
            status = throttle.fail(db, "code", "customer", "K1", policy, clock.now)
    assert status.frozen
    later = clock.now + dt.timedelta(days=30)
    with backend.transaction() as db:
        assert not throttle.check(db, "code", "customer", "K1", policy, later).allowed(later)
        throttle.unfreeze(db, "code", "customer", "K1")
    with backend.transaction() as db:
        assert throttle.check(db, "code", "customer", "K1", policy, later).allowed(later)


def test_window_forgets_old_failures(backend, clock):
    policy = Policy(max_failures=3, window=dt.timedelta(minutes=10))
    with backend.transaction() as db:
        throttle.fail(db, "x", "terminal", "t", policy, clock.now)
        throttle.fail(db, "x", "terminal", "t", policy, clock.now)
    later = clock.now + dt.timedelta(minutes=11)
    with backend.transaction() as db:
        assert throttle.check(db, "x", "terminal", "t", policy, later).failures == 0
        assert throttle.fail(db, "x", "terminal", "t", policy, later).failures == 1


def test_concurrent_failures_count_exactly(backend, clock):
    policy = Policy(max_failures=1000)
    errors = []

    def worker():
        try:
            for _ in range(10):
                with backend.transaction() as db:
                    throttle.fail(db, "login", "account", "race", policy, clock.now)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with backend.transaction() as db:
        rows = list(db.scalars(select(Throttle).where(Throttle.key == "race")))
    assert len(rows) == 1 and rows[0].failures == 40


def test_purge_stale_keeps_frozen_and_recent(backend, clock):
    freeze = Policy(max_failures=1, freeze_after=1)
    with backend.transaction() as s:
        throttle.fail(s, "login", "account", "old", LOGIN_ACCOUNT, clock())
        throttle.fail(s, "link_code", "number", "frozen", freeze, clock())
    clock.advance(days=31)
    with backend.transaction() as s:
        throttle.fail(s, "login", "account", "recent", LOGIN_ACCOUNT, clock())
        assert throttle.purge_stale(s, clock()) == 1
    with backend.transaction() as s:
        keys = sorted(s.scalars(select(Throttle.key)))
    assert keys == ["frozen", "recent"]
