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


# --------------------------------------------------------------------------- reservations


def _limits():
    return [throttle.Limit("login", "terminal", "t1", throttle.LOGIN_TERMINAL),
            throttle.Limit("login", "account", "a1", LOGIN_ACCOUNT, on_success="reset")]


def test_reserve_counts_before_the_check_and_refuses_at_the_limit(backend, clock):
    """Five reservations are granted (the fifth starts the wait); the sixth is refused and
    counts nothing; a success resets the account and releases the terminal's count."""
    for n in range(1, 6):
        with backend.transaction() as db:
            reservation = throttle.reserve(db, _limits(), clock.now)
        assert reservation.granted and reservation.status("account").failures == n
    assert reservation.status("account").wait_seconds(clock.now) == 60
    with backend.transaction() as db:
        refused = throttle.reserve(db, _limits(), clock.now)
    assert not refused.granted and refused.refused_by("account")
    assert not refused.refused_by("terminal") and refused.wait_seconds(clock.now) == 60
    with backend.transaction() as db:
        assert throttle.check(db, "login", "terminal", "t1", throttle.LOGIN_TERMINAL,
                              clock.now).failures == 5
    clock.advance(seconds=61)
    with backend.transaction() as db:
        granted = throttle.reserve(db, _limits(), clock.now)
        assert granted.granted and granted.status("account").failures == 6
        throttle.succeeded(db, granted.limits, clock.now)
    with backend.transaction() as db:
        rows = {(r.scope, r.key): r.failures for r in db.scalars(select(Throttle))}
    assert rows == {("terminal", "t1"): 5}


def test_release_takes_back_one_count_and_lifts_what_it_caused(backend, clock):
    freeze = Policy(max_failures=3, base_wait=dt.timedelta(0), freeze_after=3)
    limit = throttle.Limit("x", "record_actor", "r|a1", freeze)
    for _ in range(3):
        with backend.transaction() as db:
            last = throttle.reserve(db, [limit], clock.now)
    assert last.status("record_actor").frozen  # the third attempt, still being checked
    with backend.transaction() as db:
        throttle.release(db, "x", "record_actor", "r|a1", freeze)  # ... and it was right
    with backend.transaction() as db:
        state = throttle.check(db, "x", "record_actor", "r|a1", freeze, clock.now)
    assert state.failures == 2 and not state.frozen


def test_record_limits_and_the_desk(backend, clock):
    """Per record: the account's and terminal's counters, the alarm level, and the desk's
    unfreeze that clears every counter of the record (and no other record's)."""
    policies = throttle.RecordPolicies(
        Policy(max_failures=2, base_wait=dt.timedelta(0), freeze_after=2),
        Policy(max_failures=2, window=dt.timedelta(hours=1), base_wait=dt.timedelta(hours=1)),
        Policy(max_failures=4, window=dt.timedelta(hours=1), base_wait=dt.timedelta(hours=1)),
        Policy(max_failures=100), Policy(max_failures=100))
    def attempt(record, actor, terminal):
        with backend.transaction() as db:
            return throttle.reserve(db, throttle.record_limits("x", record, actor, terminal,
                                                               policies), clock.now)
    assert attempt("R1", "a1", "t1").granted and attempt("R1", "a1", "t2").granted
    frozen = attempt("R1", "a1", "t3")
    assert throttle.refusal(frozen, clock.now)[0] == "frozen"
    assert attempt("R1", "a2", "t1").granted  # another account at t1: t1 has 2 now
    here = attempt("R1", "a3", "t1")
    assert throttle.refusal(here, clock.now) == ("record", throttle.MSG_RECORD_WAIT,
                                                 {"hours": 1})
    assert attempt("R1", "a4", "t4").granted  # the fourth for the record: the alarm level
    alarm = attempt("R1", "a5", "t5")
    assert throttle.refusal(alarm, clock.now)[:2] == ("alarm", throttle.MSG_ALARM)
    assert attempt("R2", "a4", "t4").granted  # another record is untouched
    with backend.transaction() as db:
        assert throttle.record_locked(db, "x", "R1", clock.now)
        assert throttle.unfreeze_record(db, "x", "R1") > 0
        assert not throttle.record_locked(db, "x", "R1", clock.now)
        assert throttle.record_locked(db, "x", "R2", clock.now) is False
    assert attempt("R1", "a1", "t1").granted


def test_reservations_in_threads_never_exceed_the_limit(backend, clock):
    policy = Policy(max_failures=7, base_wait=dt.timedelta(hours=1))
    granted = []
    errors = []

    def worker():
        try:
            for _ in range(5):
                with backend.transaction() as db:
                    result = throttle.reserve(db, [throttle.Limit("t", "account", "k", policy)],
                                              clock.now)
                granted.append(result.granted)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and granted.count(True) == 7 and len(granted) == 20


def test_a_counter_deleted_between_insert_and_lock_is_made_again(backend, clock):
    """PostgreSQL, READ COMMITTED: another login's success deletes the counter row (``reset``)
    and commits right after this transaction's INSERT … ON CONFLICT DO NOTHING saw it; the
    locking SELECT then finds nothing. The failure must still be counted (it raised
    NoResultFound before; on SQLite the write lock keeps the two apart, the test runs there
    all the same)."""
    from sqlalchemy import event

    now = clock()
    with backend.transaction() as db:
        throttle.fail(db, "login", "account", "a42", LOGIN_ACCOUNT, now)
    fired = []
    with backend.transaction() as db:
        connection = db.connection()

        def delete_first(conn, cursor, statement, parameters, context, executemany):
            if not fired and statement.lstrip().upper().startswith("SELECT") \
                    and "throttle" in statement and not backend.is_sqlite:
                fired.append(True)
                with backend.transaction() as other:
                    throttle.reset(other, "login", "account", "a42")

        event.listen(connection, "before_cursor_execute", delete_first)
        try:
            status = throttle.fail(db, "login", "account", "a42", LOGIN_ACCOUNT, now)
        finally:
            event.remove(connection, "before_cursor_execute", delete_first)
    assert status.failures == (1 if fired else 2)
    with backend.transaction() as db:
        rows = db.scalars(select(Throttle).where(Throttle.key == "a42")).all()
    assert [row.failures for row in rows] == [status.failures]
