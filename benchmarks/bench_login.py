"""Login throughput: ``services.accounts.login`` against raw argon2id verifications.

    python -m benchmarks.bench_login [--seconds S] [--rounds R] [--db URL] [--threads N]

One core, one thread, the same argon2id parameters (the settings' profile, m=19 MiB, t=2,
p=1 by default) on both sides, measured in the same run and interleaved in rounds so that
frequency changes hit both alike. The login side does everything a real login does: look-up
by identifier (NFKC, case-insensitive), throttle checks, one argon2 verification, session
creation and audit record in the database (a fresh SQLite file unless ``--db`` is given).
Goal: logins per second >= 90 % of raw verifications per second (the rest is cheap).
A third side (#15) logs in an account with a second factor: the password step, then the
current TOTP code (a clock that moves one 30-s step per login, so that no code is a replay);
goal: the second step adds at most 5 % to a login, judged by CPU time per login (also
printed by the wall clock, which other processes on a shared machine disturb more).
With a server database each login also waits for round trips and a durable commit; with
``--threads 2`` another login hashes meanwhile, which is what "per core" means for a server.
For scale: Keycloak's published sizing is 15 password logins per second per vCPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import threading
import time
from pathlib import Path

import argon2

from db.engine import make_engine
from db.migrate import upgrade
from services import accounts, second_factor
from services.backend import Backend, Caller
from services.config import Settings

PASSWORD = "blauer Kaffeebecher am Fenster"


def _pin_one_core() -> None:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):  # not on Linux: one thread is one core anyway
        pass


class StepClock:
    """The real time plus one TOTP step (30 s) more at every ``step()``."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def step(self) -> None:
        self.offset += dt.timedelta(seconds=30)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


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


def _setup_totp(backend: Backend) -> tuple[Backend, StepClock, str, str]:
    """A second account with a second factor, on a backend whose clock steps."""
    clock = StepClock()
    stepping = Backend(backend.settings, database_url=backend.database_url, clock=clock,
                       hasher=backend.hasher)
    caller = Caller(terminal_id="bench")
    email = register_account(stepping)
    token = accounts.login(stepping, email, PASSWORD, caller).token
    secret = second_factor.begin_enrolment(stepping, token).secret
    second_factor.confirm_enrolment(stepping, token,
                                    second_factor.code_at(secret, stepping.now()), caller)
    return stepping, clock, email, secret


def _cpu_per_call(fn, calls: int) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of this process per call (one thread): on a shared machine far steadier
    than the wall clock, since other processes' load does not count."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


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

        stepping, clock, totp_email, secret = _setup_totp(backend)
        lock = threading.Lock()

        def totp_login() -> None:
            with lock:  # one step per login, its code computed for that step
                clock.step()
                code = second_factor.code_at(secret, stepping.now())
            pending = accounts.login(stepping, totp_email, PASSWORD, caller)
            second_factor.complete_login(stepping, pending.token, code, caller)

        service_login()
        raw_verify()
        totp_login()  # warm up all three
        raw_n = raw_t = log_n = log_t = tot_n = tot_t = 0.0
        for _ in range(args.rounds):
            n, t = _rate(raw_verify, args.seconds, args.threads)
            raw_n, raw_t = raw_n + n, raw_t + t
            n, t = _rate(service_login, args.seconds, args.threads)
            log_n, log_t = log_n + n, log_t + t
            n, t = _rate(totp_login, args.seconds, args.threads)
            tot_n, tot_t = tot_n + n, tot_t + t
        cpu_login = cpu_totp = 0.0
        for _ in range(args.rounds):  # interleaved, 10 calls a side and round
            cpu_login += _cpu_per_call(service_login, 10)
            cpu_totp += _cpu_per_call(totp_login, 10)
        stepping.dispose()
        backend.dispose()
    raw_rate, login_rate = raw_n / raw_t, log_n / log_t
    print(f"argon2id profile: m={s.argon2_memory_kib} KiB, t={s.argon2_time_cost}, "
          f"p={s.argon2_parallelism}; database: {'SQLite' if not args.db else args.db}; "
          f"one core, {args.threads} thread(s)")
    print(f"raw argon2 verifications: {raw_rate:8.1f} /s  ({int(raw_n)} in {raw_t:.1f} s)")
    print(f"login service calls:      {login_rate:8.1f} /s  ({int(log_n)} in {log_t:.1f} s)")
    ratio = login_rate / raw_rate
    print(f"ratio: {ratio:.1%} (goal >= 90 %) -> {'OK' if ratio >= 0.9 else 'BELOW GOAL'}")
    totp_rate = tot_n / tot_t
    extra = login_rate / totp_rate - 1  # time of a login with TOTP over one without
    print(f"login + TOTP code:        {totp_rate:8.1f} /s  ({int(tot_n)} in {tot_t:.1f} s)")
    cpu_extra = cpu_totp / cpu_login - 1
    print(f"second factor costs {extra:+.1%} of a login by the wall clock, "
          f"{cpu_extra:+.1%} in CPU time ({cpu_login * 1000:.1f} vs {cpu_totp * 1000:.1f} ms) "
          f"(goal <= 5 %) -> {'OK' if cpu_extra <= 0.05 else 'ABOVE GOAL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
