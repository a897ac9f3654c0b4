"""Service-desk search latency at 1,000 and at 1,000,000 customer records, in one run.

    python -m benchmarks.bench_search [--small N] [--large N] [--queries Q] [--db URL]

SQLite (a fresh file) by default; PostgreSQL when ``--db`` or ``KIOSK_BENCH_POSTGRES_URL`` is
given (rows get a fresh number range, so a reused database works). The run loads ``--small``
customer records (with a contract for every fourth), measures ``services.backoffice.search``
end to end (session and role check, every prefix criterion, the look-up of the hits) for
``--queries`` typed queries — numbers, surnames with and without umlauts, postal codes,
e-mail and contract-number prefixes — then grows the data to ``--large`` records and measures
the same kind of queries again. Prints p50/p95 of both and the ratio large/small of p95
(goal: < 3, because indexes, not scans, answer; and p95 < 100 ms at 1 million).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from db.engine import make_engine
from db.migrate import upgrade
from db.models import Account, Contract, Customer
from services import backoffice, sessions
from services.backend import Backend
from services.config import Settings
from services.normalize import fold_name

SURNAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Meyer", "Wagner", "Becker",
            "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
            "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
            "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Köhler",
            "Größ", "Österreicher", "Huber", "Fuchs", "Bäcker", "Vogel", "Jäger", "Groß")
FIRST = ("Anna", "Max", "Lukas", "Sabine", "Jürgen", "Claudia", "Erika", "Thomas", "Katrin",
         "Elisabeth", "Paul", "Marie", "Felix", "Lea", "Jonas", "Emma")
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Kassel", "Düsseldorf", "Linz", "Graz")
CHUNK = 20_000


def _rows(start: int, stop: int, base: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    customers, contracts = [], []
    for n in range(start, stop):
        last = rng.choice(SURNAMES) + (f"-{rng.choice(SURNAMES)}" if n % 7 == 0 else "")
        first = rng.choice(FIRST)
        number = str(base + n)
        customers.append({
            "number": number, "type": "private", "first_name": first, "last_name": last,
            "search_name": fold_name(last), "postal_code": f"{rng.randrange(1000, 99999):05d}",
            "city": rng.choice(CITIES), "country": "DE",
            "email": f"{fold_name(first)}.{fold_name(last).replace(' ', '')}{n}@example.org",
        })
        if n % 4 == 0:
            contracts.append({"number": f"V{base + n}", "number_of": number})
    return customers, contracts


def load(backend: Backend, start: int, stop: int, base: int) -> float:
    """Insert customers ``start..stop`` (and their contracts); returns the seconds it took."""
    began = time.perf_counter()
    rng = random.Random(start)
    with backend.engine.begin() as conn:
        for lo in range(start, stop, CHUNK):
            customers, contracts = _rows(lo, min(stop, lo + CHUNK), base, rng)
            conn.execute(insert(Customer.__table__), customers)
            if contracts:
                ids = dict(conn.execute(
                    Customer.__table__.select().with_only_columns(
                        Customer.number, Customer.id).where(
                        Customer.number.in_([c["number_of"] for c in contracts]))).all())
                conn.execute(insert(Contract.__table__), [
                    {"number": c["number"], "customer_id": ids[c["number_of"]],
                     "status": "active"} for c in contracts])
    return time.perf_counter() - began


def queries(count: int, size: int, base: int, rng: random.Random) -> list[str]:
    """Typed prefixes of every kind, for records that exist at ``size``."""
    result = []
    for i in range(count):
        n = rng.randrange(size)
        kind = i % 6
        if kind == 0:
            result.append(str(base + n)[: rng.randrange(5, 10)])
        elif kind == 1:
            result.append(rng.choice(SURNAMES)[: rng.randrange(3, 7)])
        elif kind == 2:
            result.append(fold_name(rng.choice(SURNAMES))[: rng.randrange(3, 7)])
        elif kind == 3:
            result.append(f"{rng.randrange(10, 99)}{rng.randrange(10)}")
        elif kind == 4:
            result.append(f"{rng.choice(FIRST).lower()}.{fold_name(rng.choice(SURNAMES))[:3]}")
        else:
            result.append(f"V{base + n - n % 4}"[: rng.randrange(5, 10)])
    return result


def measure(backend: Backend, token: str, typed: list[str]) -> list[float]:
    for query in typed[:20]:  # warm caches
        backoffice.search(backend, token, query)
    times = []
    for query in typed:
        began = time.perf_counter()
        backoffice.search(backend, token, query)
        times.append((time.perf_counter() - began) * 1000)
    return times


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--db", default=os.environ.get("KIOSK_BENCH_POSTGRES_URL"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        url = args.db or f"sqlite:///{home / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        backend = Backend(Settings(home=home, terminal_id="bench"), database_url=url)  # type: ignore[arg-type]
        stamp = time.time_ns()
        base = 10**11 + (stamp % 10**6) * 10**7 if args.db else 10**8
        with backend.transaction() as db:
            agent = Account(kind="agent", username=f"bench{stamp}", username_key=f"bench{stamp}",
                            status="active")
            db.add(agent)
            db.flush()
            agent_id = agent.id
        token = sessions.open_session(backend, agent_id, terminal_id="bench",
                                      idle_timeout=24 * 3600)
        rng = random.Random(7)
        print(f"database: {backend.engine.dialect.name}", flush=True)
        results = {}
        loaded = 0
        for size in (args.small, args.large):
            seconds = load(backend, loaded, size, base)
            loaded = size
            if backend.engine.dialect.name == "postgresql":
                with backend.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE customer; ANALYZE contract")
            else:
                with backend.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            times = measure(backend, token, queries(args.queries, size, base, rng))
            results[size] = (pct(times, 50), pct(times, 95))
            print(f"{size:>9,} records (loaded in {seconds:.1f} s): "
                  f"p50 {results[size][0]:.2f} ms, p95 {results[size][1]:.2f} ms", flush=True)
        small, large = results[args.small], results[args.large]
        print(f"ratio {args.large:,}/{args.small:,}: p50 {large[0] / small[0]:.2f}x, "
              f"p95 {large[1] / small[1]:.2f}x (goal < 3x; p95 < 100 ms)")
        backend.dispose()


if __name__ == "__main__":
    main()
