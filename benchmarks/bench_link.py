"""Linking throughput and p95: ``customer_numbers.link_customer_number`` against a bare
indexed lookup of one customer row, in the same run, with many records and codes loaded.

    python -m benchmarks.bench_link [--records N] [--links K] [--db URL]

Loads N customer records and N activation codes (keyed digests; default 100,000,
``--records 1000000`` for the issue's figure) into a fresh SQLite file (or ``--db``), creates
K accounts with open sessions whose password was "just entered" (the deliberate argon2
re-entry is excluded, as the issue asks), then links K different numbers with their codes.
Each link does all a real one does: session and re-entry check, three throttle counters,
row lock, constant-time digest compare, conflict checks, link + used code, audit, mail.

Baselines, interleaved with the links in rounds so that drift hits both alike:
* ``lookup (unit of work)``: one ``SELECT … WHERE number = ?`` through the same session
  factory in its own transaction (what any single service read costs);
* ``lookup (raw)``: the same SELECT on an open connection, no ORM, no transaction bookkeeping;
* ``one-row write (unit of work)``: the floor of any committed change — the session's
  last-seen update alone, through the same session factory, committed.
Goal: link p50 / p95 <= 5x the unit-of-work lookup.

Measured on the 2-core shared dev machine (SQLite, a quiet moment, ``--records 1000000
--links 300``), before/after cutting round trips (account kept instead of reloaded, customer
and codes in one SELECT, both conflict rules in one SELECT, one flush at commit: 15 -> 12
statements per link): link p50 2.99 ms -> 2.33 ms, p95 7.44 ms -> 3.70 ms; ratio to the
unit-of-work lookup p50 13.5x -> 9.9x, p95 22.5x -> 10.3x; to the one-row write 5.7x.
Where the rest goes (pyinstrument): a third the ORM flush + commit of the five writes, a
third the locked read + the throttle check (``throttle.check_many`` builds its OR of ANDs per
call), a fifth the session + account load (two SELECTs in ``sessions._load``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, text, update

from db.engine import make_engine
from db.migrate import upgrade
from db.models import Account, ActivationCode, Customer, Session
from services import customer_numbers, sessions
from services.backend import Backend
from services.caller import Caller
from services.config import Settings
from services.crypto import normalize_code

BATCH = 20_000


def _code(i: int) -> str:
    return f"C{i:011d}"


def _load(backend: Backend, records: int) -> None:
    until = dt.date(2030, 12, 31)
    digest = backend.digester.digest
    with backend.engine.begin() as conn:
        for start in range(0, records, BATCH):
            stop = min(start + BATCH, records)
            conn.execute(insert(Customer), [
                {"id": i + 1, "number": f"{7_000_000 + i}", "type": "private",
                 "first_name": "Bea", "last_name": f"Bench {i}", "street": "Teststr. 1",
                 "postal_code": "34117", "city": "Kassel", "country": "DE"}
                for i in range(start, stop)])
            conn.execute(insert(ActivationCode), [
                {"customer_id": i + 1, "valid_until": until,
                 "code_digest": digest("activation", normalize_code(_code(i)))}
                for i in range(start, stop)])


def _accounts(backend: Backend, count: int) -> list[str]:
    with backend.engine.begin() as conn:
        conn.execute(insert(Account), [
            {"kind": "customer", "username": f"bench{i}", "username_key": f"bench{i}",
             "email": f"bench{i}@example.com", "email_key": f"bench{i}@example.com",
             "customer_type": "private", "status": "active", "language": "de",
             "first_name": "Bea", "last_name": f"Bench {i}"} for i in range(count)])
    with backend.transaction() as db:
        ids = list(db.scalars(select(Account.id).order_by(Account.id)))
    tokens = [sessions.open_session(backend, account_id, terminal_id="bench",
                                    idle_timeout=24 * 3600) for account_id in ids]
    with backend.transaction() as db:  # the password was "just entered": excluded
        db.execute(update(Session).values(reauth_at=backend.now()))
    return tokens


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_link", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv or [])
    links = min(args.links, args.records)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        url = args.db or f"sqlite:///{home / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        backend = Backend(Settings(home=home, terminal_id="bench"),  # type: ignore[arg-type]
                          database_url=url)
        started = time.perf_counter()
        _load(backend, args.records)
        tokens = _accounts(backend, links)
        print(f"loaded {args.records:,} customer records + codes, {links} accounts "
              f"in {time.perf_counter() - started:.1f} s ({backend.engine.dialect.name})")
        rng = random.Random(7)
        picks = rng.sample(range(args.records), links)
        lookups = [f"{7_000_000 + rng.randrange(args.records)}" for _ in range(links)]
        caller = Caller(terminal_id="bench")
        t_link: list[float] = []
        t_uow: list[float] = []
        t_raw: list[float] = []
        t_write: list[float] = []
        query = select(Customer).where(Customer.number == text(":n"))
        raw = text("SELECT id, number, type, last_name FROM customer WHERE number = :n")
        with backend.engine.connect() as conn:
            for token, i, number in zip(tokens, picks, lookups, strict=True):
                a = time.perf_counter()
                customer_numbers.link_customer_number(backend, token, _code(i),
                                                      f"{7_000_000 + i}", caller)
                b = time.perf_counter()
                with backend.transaction() as db:
                    db.scalars(query, {"n": number}).first()
                c = time.perf_counter()
                conn.execute(raw, {"n": number}).first()
                d = time.perf_counter()
                with backend.transaction() as db:
                    db.execute(update(Session).where(Session.token_digest == text(":t"))
                               .values(last_seen_at=backend.now()), {"t": token})
                e = time.perf_counter()
                t_link.append(b - a)
                t_uow.append(c - b)
                t_raw.append(d - c)
                t_write.append(e - d)
        backend.dispose()

    def line(name: str, values: list[float]) -> str:
        return (f"{name:29} {len(values) / sum(values):>9,.0f}/s   p50 "
                f"{statistics.median(values) * 1e3:7.3f} ms   p95 {_p(values, 0.95) * 1e3:7.3f} ms")

    print(line("link (no password check)", t_link))
    print(line("lookup (unit of work)", t_uow))
    print(line("lookup (raw)", t_raw))
    print(line("one-row write (unit of work)", t_write))
    for name, base in (("unit-of-work lookup", t_uow), ("raw lookup", t_raw),
                       ("one-row write", t_write)):
        print(f"ratio link / {name:20} p50 {statistics.median(t_link) / statistics.median(base):6.1f}x"
              f"   p95 {_p(t_link, 0.95) / _p(base, 0.95):6.1f}x   (goal <= 5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
