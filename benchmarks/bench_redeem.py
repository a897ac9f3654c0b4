"""Redeeming online keys with many keys loaded, against a bare indexed look-up of one key.

    python -m benchmarks.bench_redeem [--keys N] [--seconds S] [--rounds R] [--db URL]

Loads ``--keys`` licence keys (200 000 by default; the issue's figure is ``--keys 1000000``)
as keyed digests into a fresh SQLite file (or ``--db``), then measures in the same run,
interleaved in rounds, one thread:

* redeem: ``services.products.redeem_key`` end to end — format check, digest, session check,
  throttle counters, look-up of the key with its product, the conditional UPDATE, audit
  record, commit — each time a different, random, unredeemed key;
* look-up: the bare indexed look-up of one key by its digest in its own transaction
  (``SELECT id FROM licence_key WHERE key_digest = :d``), the floor any redemption pays.

Prints both rates and the ratio look-ups/redemptions (goal: <= 5).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from db.engine import make_engine
from db.migrate import upgrade
from db.models import Account, LicenceKey, Product
from services import products, sessions
from services.backend import Backend, Caller
from services.config import Settings

ALPHABET = products.KEY_ALPHABET


def key_of(n: int) -> str:
    """The n-th benchmark key: 16 characters of A–Z0–9 (a bijection, so all are distinct)."""
    chars = []
    for _ in range(products.KEY_LENGTH):
        n, r = divmod(n, len(ALPHABET))
        chars.append(ALPHABET[r])
    return "".join(reversed(chars))


def _setup(url: str | None, home: Path, count: int) -> tuple[Backend, str]:
    settings = Settings(home=home, terminal_id="bench")  # type: ignore[arg-type]
    url = url or f"sqlite:///{home / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    backend = Backend(settings, database_url=url)
    digest = backend.digester.digest
    stamp = time.time_ns()
    with backend.transaction() as db:
        product = Product(sku=f"BENCH-{stamp}", name="Benchmark", kind="licence",
                          access_url="https://example.org/bench")
        account = Account(username=f"bench{stamp}", username_key=f"bench{stamp}",
                          status="active", email=f"bench{stamp}@example.org",
                          email_key=f"bench{stamp}@example.org")
        db.add_all([product, account])
        db.flush()
        product_id, account_id = product.id, account.id
    offset = (stamp % 10**12) * 10**7  # a fresh key range on a reused server database
    start = time.perf_counter()
    table = LicenceKey.__table__
    with backend.engine.begin() as conn:
        for lo in range(0, count, 20_000):
            conn.execute(insert(table), [
                {"key_digest": digest("licence", key_of(offset + n)), "product_id": product_id}
                for n in range(lo, min(count, lo + 20_000))])
    print(f"loaded {count:,} keys in {time.perf_counter() - start:.1f} s", flush=True)
    token = sessions.open_session(backend, account_id, terminal_id="bench",
                                  idle_timeout=24 * 3600)
    backend._bench_offset = offset  # type: ignore[attr-defined]
    return backend, token


def _rate(fn, seconds: float) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_redeem")
    parser.add_argument("--keys", type=int, default=200_000, help="keys loaded (default 200k)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        backend, token = _setup(args.db, Path(tmp), args.keys)
        offset = backend._bench_offset  # type: ignore[attr-defined]
        order = list(range(args.keys))
        random.Random(42).shuffle(order)
        unused = iter(order)
        caller = Caller(terminal_id="bench")
        digest = backend.digester.digest

        def redeem() -> None:
            products.redeem_key(backend, token, key_of(offset + next(unused)), caller)

        def lookup() -> None:
            key = key_of(offset + random.choice(order))  # noqa: S311 - not a secret
            with backend.transaction() as db:
                found = db.scalar(select(LicenceKey.id).where(
                    LicenceKey.key_digest == digest("licence", key)))
            assert found is not None

        redeem()
        lookup()  # warm up both
        red_n = red_t = look_n = look_t = 0.0
        for _ in range(args.rounds):
            n, t = _rate(lookup, args.seconds)
            look_n, look_t = look_n + n, look_t + t
            n, t = _rate(redeem, args.seconds)
            red_n, red_t = red_n + n, red_t + t
        backend.dispose()
    look_rate, red_rate = look_n / look_t, red_n / red_t
    print(f"database: {args.db or 'SQLite (fresh file)'}; {args.keys:,} keys loaded; one thread")
    print(f"bare indexed look-up of one key: {look_rate:10.1f} /s")
    print(f"redemptions (redeem_key):        {red_rate:10.1f} /s")
    ratio = look_rate / red_rate
    print(f"ratio look-up/redeem: {ratio:.1f}x (goal <= 5x) -> {'OK' if ratio <= 5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
