"""Retention at scale: housekeeping over 1,000,000 audit rows and 1,000,000 delivered mails.

    python -m benchmarks.bench_housekeeping [--rows N] [--db URL] [--batch B]

Fills a fresh database (SQLite file unless ``--db``) with ``--rows`` audit entries older than
``retention_audit_days`` and as many mails delivered longer ago than ``retention_outbox_days``
(plus 1 % young rows of each, which must stay), then runs ``housekeeping.run`` while a second
thread logs a customer in again and again (``accounts.login``: argon2, throttle, session,
audit). Every database transaction is timed by engine events (begin → commit/rollback).

Goals, measured in this one run: the longest single housekeeping transaction < 1 s (the
purge goes in batches of ``housekeeping_batch`` rows), and the logins beside it stay usable:
the slowest login during the purge, and the median as a ratio to the median login before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import event, func, select, text

from benchmarks.bench_login import PASSWORD, register_account
from db.engine import make_engine
from db.migrate import upgrade
from db.models import AuditEvent, OutboxMail
from services import accounts, housekeeping
from services.backend import Backend, Caller
from services.config import Settings

FILL = 200_000  # rows per INSERT … SELECT statement


def _stamp(backend: Backend, value: dt.datetime) -> object:
    """A timestamp as the UTC column stores it (SQLite: naive text)."""
    if backend.is_sqlite:
        return value.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _series(backend: Backend, count: int) -> str:
    if backend.is_sqlite:
        return (f"WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
                f"WHERE x < {count}) SELECT x FROM s")
    return f"SELECT x FROM generate_series(1, {count}) AS x"


def _fill(backend: Backend, rows: int) -> None:
    now = backend.now()
    s = backend.settings
    old_audit = _stamp(backend, now - dt.timedelta(days=s.retention_audit_days + 30))
    old_mail = _stamp(backend, now - dt.timedelta(days=s.retention_outbox_days + 10))
    young = _stamp(backend, now - dt.timedelta(days=1))
    body = "(delivered; text removed)"
    for total, at_audit, at_mail in ((rows, old_audit, old_mail), (rows // 100, young, young)):
        done = 0
        while done < total:
            chunk = min(FILL, total - done)
            with backend.engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO audit_log (at, event, outcome, terminal_id, details) "
                    f"SELECT :at, 'login', 'ok', 'bench', '{{}}' FROM ({_series(backend, chunk)}) q"
                ), {"at": at_audit})
                conn.execute(text(
                    'INSERT INTO outbox ("to", subject, body, template, params, language, '
                    "created_at, attempts, sent_at) "
                    f"SELECT 'bench@example.com', 'Betreff', :body, 'verify_email', '{{}}', 'de', "
                    f":at, 1, :at FROM ({_series(backend, chunk)}) q"
                ), {"at": at_mail, "body": body})
            done += chunk
            print(f"  filled {done:,} of {total:,}", end="\r", flush=True)
    print()
    if not backend.is_sqlite:
        with backend.engine.connect() as conn:
            conn.execute(text("ANALYZE audit_log"))
            conn.execute(text("ANALYZE outbox"))
            conn.commit()


class TransactionTimer:
    """Duration of every transaction on the engine, by thread name."""

    def __init__(self, backend: Backend) -> None:
        self.durations: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        engine = backend.engine

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.info["bench_t0"] = time.perf_counter()

        def _end(conn) -> None:  # type: ignore[no-untyped-def]
            start = conn.info.pop("bench_t0", None)
            if start is not None:
                with self._lock:
                    self.durations.setdefault(threading.current_thread().name, []).append(
                        time.perf_counter() - start)

        event.listen(engine, "commit", _end)
        event.listen(engine, "rollback", _end)


def _logins(backend: Backend, email: str, stop: threading.Event, out: list[float]) -> None:
    caller = Caller(terminal_id="bench-login")
    while not stop.is_set():
        start = time.perf_counter()
        accounts.login(backend, email, PASSWORD, caller)
        out.append(time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_housekeeping")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="old audit rows and old delivered mails, each")
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--batch", type=int, default=None, help="rows per transaction")
    parser.add_argument("--baseline", type=float, default=5.0,
                        help="seconds of logins measured before the purge")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings(home=home, terminal_id="bench")  # type: ignore[arg-type]
        if args.batch:
            settings.housekeeping_batch = args.batch
        url = args.db or f"sqlite:///{home / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        backend = Backend(settings, database_url=url)
        if not backend.is_sqlite:  # a server database may hold rows of an earlier run
            with backend.engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log, outbox, session, account, consent, "
                                  "email_token, throttle, support_request CASCADE"))
        t0 = time.perf_counter()
        _fill(backend, args.rows)
        print(f"filled {args.rows:,} + {args.rows:,} old rows (and 1 % young ones) in "
              f"{time.perf_counter() - t0:.1f} s")
        email = register_account(backend)

        before: list[float] = []
        stop = threading.Event()
        worker = threading.Thread(target=_logins, args=(backend, email, stop, before))
        worker.start()
        time.sleep(args.baseline)
        stop.set()
        worker.join()

        timer = TransactionTimer(backend)
        during: list[float] = []
        stop = threading.Event()
        worker = threading.Thread(target=_logins, args=(backend, email, stop, during),
                                  name="login")
        threading.current_thread().name = "housekeeping"
        worker.start()
        t0 = time.perf_counter()
        done = housekeeping.run(backend, deliver_mail=False)
        elapsed = time.perf_counter() - t0
        stop.set()
        worker.join()
        with backend.transaction() as db:
            left_audit = db.scalar(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.event == "login", AuditEvent.terminal_id
                                          == "bench"))
            left_mail = db.scalar(select(func.count()).select_from(OutboxMail)
                                  .where(OutboxMail.to == "bench@example.com"))
        backend.dispose()
    tx = timer.durations.get("housekeeping", [])
    logins = timer.durations.get("login", [])
    print(f"database: {'SQLite' if not args.db else args.db}; batch "
          f"{settings.housekeeping_batch} rows; housekeeping took {elapsed:.1f} s")
    print(f"removed: audit_entries {done['audit_entries']:,}, delivered_mails "
          f"{done['delivered_mails']:,}; kept young rows: audit {left_audit:,}, mails "
          f"{left_mail:,} (expected {args.rows // 100:,} each)")
    print("slowest housekeeping transactions:", ", ".join(f"{d:.3f}" for d in sorted(tx)[-5:]))
    print(f"housekeeping transactions: {len(tx)}; longest {max(tx):.3f} s, median "
          f"{statistics.median(tx):.4f} s")
    print(f"logins beside it: {len(during)}; median {statistics.median(during):.3f} s "
          f"(before: {statistics.median(before):.3f} s, ratio "
          f"{statistics.median(during) / statistics.median(before):.2f}); slowest "
          f"{max(during):.3f} s; longest login transaction {max(logins or [0]):.3f} s")
    ok = max(tx) < 1.0 and done["audit_entries"] == args.rows \
        and done["delivered_mails"] == args.rows and left_audit == args.rows // 100 \
        and left_mail == args.rows // 100
    print(f"longest transaction < 1 s and exactly the old rows removed -> "
          f"{'OK' if ok else 'BELOW GOAL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
