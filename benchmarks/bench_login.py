"""Login throughput: ``services.accounts.login`` against raw argon2id verifications.

    python -m benchmarks.bench_login [--seconds S] [--rounds R] [--db URL]

One core, one thread, the same argon2id parameters (the settings' profile, m=19 MiB, t=2,
p=1 by default) on both sides, measured in the same run and interleaved in rounds so that
frequency changes hit both alike. The login side does everything a real login does: look-up
by identifier (NFKC, case-insensitive), throttle checks, one argon2 verification, session
creation and audit record in the database (a fresh SQLite file unless ``--db`` is given).
Goal: logins per second >= 90 % of raw verifications per second (the rest is cheap).
For scale: Keycloak's published sizing is 15 password logins per second per vCPU.
"""

from __future__ import annotations

import argparse
import os
import tempfile
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
    backend._bench_email = email  # type: ignore[attr-defined]
    return backend


def _rate(fn, seconds: float) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    done = 0
    start = time.perf_counter()
    while True:
        fn()
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_login")
    parser.add_argument("--seconds", type=float, default=3.0, help="per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
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
            n, t = _rate(raw_verify, args.seconds)
            raw_n, raw_t = raw_n + n, raw_t + t
            n, t = _rate(service_login, args.seconds)
            log_n, log_t = log_n + n, log_t + t
        backend.dispose()
    raw_rate, login_rate = raw_n / raw_t, log_n / log_t
    print(f"argon2id profile: m={s.argon2_memory_kib} KiB, t={s.argon2_time_cost}, "
          f"p={s.argon2_parallelism}; database: {'SQLite' if not args.db else args.db}")
    print(f"raw argon2 verifications: {raw_rate:8.1f} /s  ({int(raw_n)} in {raw_t:.1f} s)")
    print(f"login service calls:      {login_rate:8.1f} /s  ({int(log_n)} in {log_t:.1f} s)")
    ratio = login_rate / raw_rate
    print(f"ratio: {ratio:.1%} (goal >= 90 %) -> {'OK' if ratio >= 0.9 else 'BELOW GOAL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
