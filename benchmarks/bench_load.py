"""Load: N processes (1, 2, 4, 8) each running the whole customer journey against PostgreSQL.

    python -m benchmarks.bench_load [--records 10000] [--journeys 6] [--processes 1,2,4,8]
                                    [--db postgresql://…/postgres]

A fresh database ``kiosk_bench_load_<pid>`` is created on the server of ``--db`` (default
``KIOSK_TEST_POSTGRES_URL`` or postgresql://postgres@127.0.0.1:5432/test), migrated, loaded
with ``--records`` customer records (each with an activation code and a contract) and as many
licence keys, and dropped at the end. ``--records 1000000`` is the issue's size (loading takes
minutes; run it on a quiet machine).

Every worker process (multiprocessing, spawn: its own interpreter, engine and connections,
like a terminal) runs ``--journeys`` journeys, each through the real services:
register → confirm (the code read from the outbox) → login → link a customer number →
link a contract (when ``services.contracts.link_contract`` exists) → redeem a licence key.
After each step the worker runs the step's bare database operation on a raw connection (the
statement the step is essentially about, committed) so that each step's ratio comes from the
same moment and the same load; after each login it also verifies a password hash with the
same argon2id parameters on its own. Printed per N: journeys per second (wall time), p50/p95
per step, the step / bare-operation ratio of the p50s, and logins per second per process (per
core at N=1; N > cores shares them) against
the raw argon2id verification.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import make_url

from benchmarks.bench_link import _code, _load, _p
from benchmarks.bench_redeem import key_of
from db.engine import make_engine
from db.migrate import upgrade
from db.models import Contract, Customer, LicenceKey, OutboxMail, Product
from services.backend import Backend
from services.caller import Caller
from services.config import Settings

PASSWORD = "Ein langer Satz als Passwort 2026"
BIRTH = dt.date(1980, 5, 17)
FIRST_NUMBER = 7_000_000  # bench_link._load numbers customers from here
STEPS = ("register", "confirm", "login", "link number", "link contract", "redeem key")
BARE = {
    "register": "INSERT account row",
    "confirm": "UPDATE account status",
    "login": "SELECT account by name",
    "link number": "SELECT customer FOR UPDATE + UPDATE code",
    "link contract": "SELECT contract FOR UPDATE + UPDATE",
    "redeem key": "UPDATE licence_key by digest",
}


def _has_contracts() -> bool:
    try:
        from services.contracts import link_contract  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- set-up


def _create_database(server_url: str) -> str:
    base = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"kiosk_bench_load_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_database(server_url: str, url: str) -> None:
    base = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _load_all(backend: Backend, records: int) -> None:
    """Customers + codes (bench_link's loader), one contract per customer, and keys."""
    _load(backend, records)
    digest = backend.digester.digest
    with backend.engine.begin() as conn:
        conn.execute(update(Customer).values(birth_date=BIRTH))
        product_id = conn.execute(insert(Product).values(
            sku="LOAD-1", name="Lastprobe", kind="licence",
            access_url="https://example.org/load").returning(Product.id)).scalar_one()
        for lo in range(0, records, 20_000):
            hi = min(records, lo + 20_000)
            conn.execute(insert(Contract), [
                {"number": f"V{FIRST_NUMBER + i}", "customer_id": i + 1, "product": "Jobticket",
                 "valid_from": dt.date(2025, 1, 1), "status": "active"} for i in range(lo, hi)])
            conn.execute(insert(LicenceKey), [
                {"key_digest": digest("licence", key_of(i)), "product_id": product_id,
                 "valid_until": dt.date(2030, 12, 31)} for i in range(lo, hi)])
        conn.execute(text("ANALYZE"))


# --------------------------------------------------------------------------- in a worker


class Journey:
    """One worker's backend, raw connection and timings."""

    def __init__(self, url: str, home: str) -> None:
        self.backend = Backend(Settings(home=Path(home), terminal_id="load"),  # type: ignore[call-arg]
                               database_url=url)
        self.raw = self.backend.engine.connect()
        self.times: dict[str, list[float]] = defaultdict(list)
        from services.accounts import prepare_password

        self.prepared = prepare_password(PASSWORD)
        self.hashed = self.backend.hasher.hash(self.prepared)

    def timed(self, step: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args)
        self.times[step].append(time.perf_counter() - start)
        return result

    def bare(self, step: str, sql: str, **params: Any) -> None:
        start = time.perf_counter()
        with self.raw.begin():
            for statement in sql.split(";"):
                self.raw.execute(text(statement), params)
        self.times["bare " + step].append(time.perf_counter() - start)

    def mailed_code(self, email: str) -> str:
        with self.backend.transaction() as db:
            params = db.scalars(select(OutboxMail.params).where(OutboxMail.to == email)
                                .order_by(OutboxMail.id.desc())).first()
        return params["code"]

    def run(self, index: int, tag: str) -> None:
        from services import accounts, customer_numbers, products

        number = f"{FIRST_NUMBER + index}"
        email = f"load-{tag}@example.org"
        caller = Caller(terminal_id=f"load-{tag}")
        form = {"customer_type": "private", "email": email, "first_name": "Bea",
                "last_name": f"Bench {index}", "password": PASSWORD,
                "password_confirm": PASSWORD, "street": "Teststr. 1", "postal_code": "34117",
                "city": "Kassel", "country": "DE", "accept_terms": True}
        self.timed("register", accounts.register, self.backend, form, caller)
        self.bare("register", "INSERT INTO account (kind, username, username_key, email, "
                  "email_key, status, language, first_name, last_name, customer_type, failed_logins, "
                  "created_at) VALUES ('customer', :u, :u, :e, :e, 'unverified', 'de', 'B', "
                  "'B', 'private', 0, now())", u=f"bare-{tag}", e=f"bare-{tag}@example.org")
        code = self.mailed_code(email)
        self.timed("confirm", accounts.verify_email, self.backend, email, code, caller)
        self.bare("confirm", "UPDATE account SET status = 'active' WHERE username_key = :u",
                  u=f"bare-{tag}")
        token = self.timed("login", accounts.login, self.backend, email, PASSWORD,
                           caller).token
        self.bare("login", "SELECT id, password_hash, status FROM account WHERE email_key = :e",
                  e=email)
        self.timed("argon2", self.backend.hasher.verify, self.hashed, self.prepared)
        self.timed("link number", customer_numbers.link_customer_number, self.backend, token,
                   _code(index), number, caller)
        self.bare("link number", "SELECT id FROM customer WHERE number = :n FOR UPDATE;"
                  "UPDATE activation_code SET used_at = used_at WHERE customer_id = "
                  "(SELECT id FROM customer WHERE number = :n)", n=number)
        if _has_contracts():
            from services.contracts import link_contract

            data = {"number": f"V{number}", "birth_date": BIRTH.strftime("%d.%m.%Y"),
                    "last_name": f"Bench {index}", "postal_code": "34117"}
            self.timed("link contract", link_contract, self.backend, token, data, caller)
            self.bare("link contract", "SELECT id FROM contract WHERE number = :c FOR UPDATE;"
                      "UPDATE contract SET status = status WHERE number = :c", c=f"V{number}")
        self.timed("redeem key", products.redeem_key, self.backend, token, key_of(index), caller)
        self.bare("redeem key", "UPDATE licence_key SET redeemed_at = redeemed_at "
                  "WHERE key_digest = :d", d=self.backend.digester.digest("licence",
                                                                          key_of(index)))

    def close(self) -> None:
        self.raw.close()
        self.backend.dispose()


def _worker(url: str, home: str, barrier: Any, indexes: list[int], run: str
            ) -> dict[str, list[float]]:
    journey = Journey(url, home)
    barrier.wait(timeout=120)
    for index in indexes:
        journey.run(index, f"{run}-{index}")
    journey.close()
    return dict(journey.times)


# --------------------------------------------------------------------------- report


def _run(url: str, home: str, processes: int, journeys: int, first: int
         ) -> tuple[float, dict[str, list[float]]]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with context.Pool(processes) as pool:
            jobs = [pool.apply_async(_worker, (url, home, barrier, list(range(
                first + p * journeys, first + (p + 1) * journeys)), f"n{processes}"))
                for p in range(processes)]
            barrier.wait(timeout=120)  # every worker has started and connected
            start = time.perf_counter()
            results = [job.get(timeout=1800) for job in jobs]
            wall = time.perf_counter() - start
    merged: dict[str, list[float]] = defaultdict(list)
    for result in results:
        for step, values in result.items():
            merged[step].extend(values)
    return wall, merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_load")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--journeys", type=int, default=6, help="journeys per process")
    parser.add_argument("--processes", default="1,2,4,8")
    parser.add_argument("--db", default=os.environ.get(
        "KIOSK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL URL; the benchmark creates and drops its own database there")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    counts = [int(n) for n in args.processes.split(",")]
    needed = sum(counts) * args.journeys
    if needed > args.records:
        raise SystemExit(f"--records must be at least {needed} for these journeys")

    url = _create_database(args.db)
    with tempfile.TemporaryDirectory() as home:
        try:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            backend = Backend(Settings(home=Path(home), terminal_id="load"),  # type: ignore[call-arg]
                              database_url=url)
            start = time.perf_counter()
            _load_all(backend, args.records)
            print(f"PostgreSQL, {args.records:,} customer records + codes + contracts + keys "
                  f"loaded in {time.perf_counter() - start:.1f} s; argon2id "
                  f"m={backend.settings.argon2_memory_kib} KiB t={backend.settings.argon2_time_cost}"
                  f" p={backend.settings.argon2_parallelism}; {os.cpu_count()} cores", flush=True)
            steps = [s for s in STEPS if s != "link contract" or _has_contracts()]
            first = 0
            for processes in counts:
                wall, times = _run(url, home, processes, args.journeys, first)
                first += processes * args.journeys
                done = processes * args.journeys
                print(f"\nN={processes}: {done} journeys in {wall:.1f} s = "
                      f"{done / wall:.2f} journeys/s", flush=True)
                print(f"  {'step':14} {'p50 ms':>8} {'p95 ms':>8}   {'bare op':40} "
                      f"{'p50 ms':>7}  ratio")
                for step in steps:
                    own, bare = times[step], times["bare " + step]
                    print(f"  {step:14} {statistics.median(own) * 1e3:8.1f} "
                          f"{_p(own, 0.95) * 1e3:8.1f}   {BARE[step]:40} "
                          f"{statistics.median(bare) * 1e3:7.2f}  "
                          f"{statistics.median(own) / statistics.median(bare):6.0f}x")
                login, argon2 = (statistics.median(times[k]) for k in ("login", "argon2"))
                print(f"  logins/s per process (1/p50): {1 / login:5.1f}; raw argon2id verify "
                      f"with the same parameters in the same workers: {1 / argon2:5.1f}/s "
                      f"(login = {login / argon2:.2f}x the hash alone)")
            backend.dispose()
        finally:
            _drop_database(args.db, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
