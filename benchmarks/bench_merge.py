"""Merging a customer number with 1,000 contracts and 1,000 licences against merging one with
none, in the same run.

    python -m benchmarks.bench_merge [--items N] [--rounds R] [--db URL]

For every round two fresh pairs are written (an account holding the kept number; the other
number with its customer password, and ``--items`` contracts and licence keys, or none), then
``services.merge.submit`` runs end to end for each — session and re-entry check, throttle
counters, row locks on both records, the proof (one argon2id run with the configured
parameters), comparison, the moves, the ``MergeOrder`` with every moved id, audit and mail —
alternating big and empty so both see the same conditions. Prints the median of each and the
ratio big/empty (goal: <= 20), and the moves alone (``merge._execute``, rolled back).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from db.engine import make_engine
from db.migrate import upgrade
from db.models import Account, Contract, Customer, CustomerLink, LicenceKey, Product
from services import merge, sessions
from services.backend import Backend, Caller
from services.config import Settings

PASSWORD = "Leuchtturm-Sylt-Moewe-17"  # noqa: S105 - benchmark data


def _backend(url: str | None, home: Path) -> Backend:
    settings = Settings(home=home, terminal_id="bench")  # type: ignore[arg-type]
    url = url or f"sqlite:///{home / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return Backend(settings, database_url=url)


class Pairs:
    """Writes fresh (kept, other) pairs with ``items`` contracts and licences on the other."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.stamp = time.time_ns() % 10**9
        self.serial = 0
        self.password_hash = backend.hasher.hash(PASSWORD)
        with backend.transaction() as db:
            product = Product(sku=f"BENCH-M-{self.stamp}", name="Benchmark", kind="licence")
            db.add(product)
            db.flush()
            self.product_id = product.id

    def make(self, items: int) -> tuple[str, str, str]:
        """(token, kept number, other number) for a new pair."""
        self.serial += 1
        tag = f"{self.stamp}{self.serial:05d}"
        keep_n, other_n = f"8{tag}1", f"8{tag}2"
        with self.backend.transaction() as db:
            account = Account(username=f"m{tag}", username_key=f"m{tag}", status="active",
                              email=f"m{tag}@example.org", email_key=f"m{tag}@example.org")
            person = dict(type="private", first_name="Anna", last_name="Bench",
                          postal_code="40212", city="Düsseldorf", country="DE")
            keep = Customer(number=keep_n, street="Königsallee 1", **person)
            other = Customer(number=other_n, street="Schadowstraße 44",
                             password_hash=self.password_hash, **person)
            db.add_all([account, keep, other])
            db.flush()
            db.add(CustomerLink(account_id=account.id, customer_id=keep.id,
                                customer_type="private"))
            if items:
                db.execute(insert(Contract), [
                    {"number": f"C{tag}-{i}", "customer_id": other.id, "product": "Abo",
                     "status": "active"} for i in range(items)])
                db.execute(insert(LicenceKey), [
                    {"key_digest": f"K{tag}-{i}", "product_id": self.product_id,
                     "customer_id": other.id} for i in range(items)])
            account_id = account.id
        token = sessions.open_session(self.backend, account_id, terminal_id="bench",
                                      idle_timeout=24 * 3600)
        return token, keep_n, other_n


def _timed(backend: Backend, pair: tuple[str, str, str], items: int) -> float:
    token, keep, other = pair
    start = time.perf_counter()
    result = merge.submit(backend, token, keep, other, PASSWORD, True,
                          Caller(terminal_id="bench"))
    elapsed = time.perf_counter() - start
    assert result.contracts == items and result.licences == items and not result.already
    return elapsed


def _moves_only(backend: Backend, pair: tuple[str, str, str]) -> float:
    """Only the moves and the mark (``merge._execute``), rolled back: the part that grows."""
    _token, keep, other = pair
    db = backend.sessions()
    try:
        with db.begin():
            keep_c, other_c = (db.scalars(select(Customer).where(Customer.number == n)).one()
                               for n in (keep, other))
            start = time.perf_counter()
            merge._execute(db, keep_c, other_c, True, backend.now())
            db.flush()
            elapsed = time.perf_counter() - start
            db.rollback()
    finally:
        db.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_merge")
    parser.add_argument("--items", type=int, default=1000,
                        help="contracts and licences on the big number (default 1000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        backend = _backend(args.db, Path(tmp))
        pairs = Pairs(backend)
        _timed(backend, pairs.make(0), 0)  # warm up
        big, empty, moves_big, moves_empty = [], [], [], []
        for _ in range(args.rounds):
            empty.append(_timed(backend, pairs.make(0), 0))
            big.append(_timed(backend, pairs.make(args.items), args.items))
            moves_empty.append(_moves_only(backend, pairs.make(0)))
            moves_big.append(_moves_only(backend, pairs.make(args.items)))
        backend.dispose()
    big_t, empty_t = statistics.median(big), statistics.median(empty)
    print(f"database: {args.db or 'SQLite (fresh file)'}; {args.rounds} rounds; one thread")
    print(f"moves alone (rolled back): none {statistics.median(moves_empty) * 1000:.1f} ms, "
          f"{args.items:,}+{args.items:,} {statistics.median(moves_big) * 1000:.1f} ms "
          "(the rest of an order is the proof's argon2id run, locks, audit and mail)")
    print(f"merge of a number with nothing:                    {empty_t * 1000:8.1f} ms")
    print(f"merge of a number with {args.items:,} contracts + {args.items:,} licences: "
          f"{big_t * 1000:8.1f} ms")
    ratio = big_t / empty_t
    print(f"ratio big/empty: {ratio:.1f}x (goal <= 20x) -> {'OK' if ratio <= 20 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
