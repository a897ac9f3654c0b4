"""Login throughput: ``services.accounts.login`` against raw argon2id verifications.

    python -m benchmarks.bench_login [--seconds S] [--rounds R] [--db URL] [--threads N]

One core, one thread, the same argon2id parameters (the settings' profile, m=19 MiB, t=2,
p=1 by default) on both sides, measured in the same run and interleaved in rounds so that
frequency changes hit both alike. The login side does everything a real login does: look-up
by identifier (NFKC, case-insensitive), throttle checks, one argon2 verification, session
creation and audit record in the database (a fresh SQLite file unless ``--db`` is given).
Goal: logins per second >= 90 % of raw verifications per second (the rest is cheap).
With a server database each login also waits for round trips and a durable commit; with
``--threads 2`` another login hashes meanwhile, which is what "per core" means for a server.
For scale: Keycloak's published sizing is 15 password logins per second per vCPU.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import argon2

from db.engine import make_engine
from db.migrate import upgrade
from services import accounts
from services.backend import Backend, Caller
from services.config import Settings

PASSWORD = "blauer Kaffeebecher am Fenster"


def _pin_one_core() -> None:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):  # not on Linux: one thread is one core anyway
        pass


def _setup(url: str | None, home: Path) -> Backend:
    settings = Settings(home=home, terminal_id="bench")  # type: ignore[arg-type]
    url = url or f"sqlite:///{home / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    backend = Backend(settings, database_url=url)
    backend._bench_email = register_account(backend)  # type: ignore[attr-defined]
    return backend


def register_account(backend: Backend) -> str:
    """A confirmed customer account with ``PASSWORD``; returns its e-mail address."""
    caller = Caller(terminal_id="bench")
    email = f"bench-{time.time_ns()}@example.com"
    accounts.register(backend, {
        "type": "private", "email": email, "password": PASSWORD,
        "password_confirm": PASSWORD, "first_name": "Bea", "last_name": "Benchmark",
        "street": "Teststr. 1", "postal_code": "34117", "city": "Kassel", "terms": True,
    }, caller)
    with backend.transaction() as db:
        from services.mail import outbox
        code = [m for m in outbox(db) if m.to == email][-1].params["code"]
    accounts.verify_email(backend, email, code, caller)
    return email


def _rate(fn, seconds: float, threads: int = 1) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Calls of ``fn`` completed in ``seconds`` by ``threads`` threads (all on the one core:
    argon2 releases the GIL, so a thread waiting for the database lets another hash)."""
    counts = [0] * threads
    start = time.perf_counter()

    def run(i: int) -> None:
        while time.perf_counter() - start < seconds:
            fn()
            counts[i] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_login")
    parser.add_argument("--seconds", type=float, default=3.0, help="per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--threads", type=int, default=1,
                        help="concurrent callers on the one core (default 1: sequential)")
    args = parser.parse_args(argv)
    _pin_one_core()
    with tempfile.TemporaryDirectory() as tmp:
        backend = _setup(args.db, Path(tmp))
        s = backend.settings
        raw = argon2.PasswordHasher(time_cost=s.argon2_time_cost, memory_cost=s.argon2_memory_kib,
                                    parallelism=s.argon2_parallelism, type=argon2.Type.ID)
        stored = raw.hash(PASSWORD)
        email = backend._bench_email  # type: ignore[attr-defined]
        caller = Caller(terminal_id="bench")

        def raw_verify() -> None:
            raw.verify(stored, PASSWORD)

        def service_login() -> None:
            accounts.login(backend, email, PASSWORD, caller)

        service_login()
        raw_verify()  # warm up both
        raw_n = raw_t = log_n = log_t = 0.0
        for _ in range(args.rounds):
            n, t = _rate(raw_verify, args.seconds, args.threads)
            raw_n, raw_t = raw_n + n, raw_t + t
            n, t = _rate(service_login, args.seconds, args.threads)
            log_n, log_t = log_n + n, log_t + t
        backend.dispose()
    raw_rate, login_rate = raw_n / raw_t, log_n / log_t
    print(f"argon2id profile: m={s.argon2_memory_kib} KiB, t={s.argon2_time_cost}, "
          f"p={s.argon2_parallelism}; database: {'SQLite' if not args.db else args.db}; "
          f"one core, {args.threads} thread(s)")
    print(f"raw argon2 verifications: {raw_rate:8.1f} /s  ({int(raw_n)} in {raw_t:.1f} s)")
    print(f"login service calls:      {login_rate:8.1f} /s  ({int(log_n)} in {log_t:.1f} s)")
    ratio = login_rate / raw_rate
    print(f"ratio: {ratio:.1%} (goal >= 90 %) -> {'OK' if ratio >= 0.9 else 'BELOW GOAL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
