"""The approvals queue of a company with 10,000 pending requests against one with 10.

    python -m benchmarks.bench_approvals [--pending N] [--rounds R] [--db URL]

Both companies live in the same database, measured in the same run, interleaved. "Open" is
what ``OrganisationScreen`` asks when it opens: the session check, the super-admin check, the
first page (20 rows, oldest first) and the count of open requests. "Page" is a later page
(``after`` = keyset cursor of the previous one), deep in the big queue (the middle and the
last page) and the first page of the small one. Both use ``ix_membership_customer_state``
(customer_id, state, created_at) — the plans are printed. Goal: big / small <= 3x.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, text

from db.engine import make_engine
from db.migrate import upgrade
from db.models import Account, Customer, Membership
from services import organisations, sessions
from services.backend import Backend
from services.config import Settings

START = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)


def _company(backend: Backend, number: str, pending: int) -> tuple[int, str]:
    """A company with a super admin (session token returned) and ``pending`` requests."""
    with backend.transaction() as db:
        customer = Customer(number=number, type="company", company=f"Firma {number}",
                            postal_code="80331")
        admin = Account(kind="customer", email=f"admin-{number}@example.de",
                        email_key=f"admin-{number}@example.de", status="active",
                        first_name="Ada", last_name="Admin")
        db.add_all([customer, admin])
        db.flush()
        db.add(Membership(customer_id=customer.id, account_id=admin.id, role="super_admin",
                          state="active", email_key=admin.email_key, created_at=START))
        customer_id, admin_id = customer.id, admin.id
    batch = 2000
    for first in range(0, pending, batch):
        rows = range(first, min(first + batch, pending))
        with backend.transaction() as db:
            keys = [f"p{i}-{number}@example.de" for i in rows]
            db.execute(insert(Account), [
                {"kind": "customer", "email": k, "email_key": k, "status": "pending_approval",
                 "first_name": "Per", "last_name": f"Son {i}", "language": "de",
                 "created_at": START, "failed_logins": 0}
                for i, k in zip(rows, keys, strict=True)])
            ids = dict(db.execute(select(Account.email_key, Account.id).where(
                Account.email_key.in_(keys))).all())
            db.execute(insert(Membership), [
                {"customer_id": customer_id, "account_id": ids[k], "email_key": k,
                 "role": "member", "state": "pending_approval",
                 # a few share one second, so the keyset tie-break on id is exercised too
                 "created_at": START + dt.timedelta(seconds=i // 3)}
                for i, k in zip(rows, keys, strict=True)])
    token = sessions.open_session(backend, admin_id, terminal_id="bench",
                                  idle_timeout=24 * 3600)
    return customer_id, token


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cursor_at(backend: Backend, token: str, customer_id: int, page: int
               ) -> tuple[dt.datetime, int] | None:
    after = None
    for _ in range(page):
        after = organisations.pending_requests(backend, token, customer_id, after=after,
                                               with_total=False).next_after
    return after


def _plans(backend: Backend, customer_id: int) -> None:
    explain = "EXPLAIN QUERY PLAN" if backend.is_sqlite else "EXPLAIN"
    with backend.engine.connect() as conn:
        sql = (f"{explain} SELECT id FROM membership WHERE customer_id = :c AND "
               "state = 'pending_approval' AND created_at >= :t AND (created_at > :t OR id > :i) "
               "ORDER BY created_at, id LIMIT 21")
        for row in conn.execute(text(sql), {"c": customer_id, "t": START, "i": 0}):
            print("   plan (page): ", row[-1])
        sql = (f"{explain} SELECT count(*) FROM membership WHERE customer_id = :c AND "
               "state = 'pending_approval'")
        for row in conn.execute(text(sql), {"c": customer_id}):
            print("   plan (count):", row[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--db", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        url = args.db or f"sqlite:///{home / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        backend = Backend(Settings(home=home, terminal_id="bench"),  # type: ignore[arg-type]
                          database_url=url)
        suffix = str(time.time_ns())[-6:]
        t0 = time.perf_counter()
        big, big_token = _company(backend, f"B{suffix}", args.pending)
        small, small_token = _company(backend, f"S{suffix}", 10)
        print(f"   set-up: {args.pending:,} + 10 pending requests in "
              f"{time.perf_counter() - t0:.1f} s ({backend.engine.dialect.name})")
        if not backend.is_sqlite:  # what autovacuum does to a table that has settled
            with backend.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE membership"))
        _plans(backend, big)
        pages = (args.pending + organisations.PAGE_SIZE - 1) // organisations.PAGE_SIZE
        middle = _cursor_at(backend, big_token, big, pages // 2)
        last = _cursor_at(backend, big_token, big, pages - 1)

        def open_big() -> None:
            page = organisations.pending_requests(backend, big_token, big)
            assert page.total == args.pending and len(page.items) == organisations.PAGE_SIZE

        def open_small() -> None:
            page = organisations.pending_requests(backend, small_token, small)
            assert page.total == 10 and len(page.items) == 10

        def page_big() -> None:
            for after in (middle, last):
                organisations.pending_requests(backend, big_token, big, after=after)

        def page_small() -> None:
            for _ in range(2):
                organisations.pending_requests(backend, small_token, small)

        for fn in (open_big, open_small, page_big, page_small):  # warm caches
            fn()
        times: dict[str, list[float]] = {n: [] for n in ("ob", "os", "pb", "ps")}
        for i in range(args.rounds):  # ABBA order: drifts of a shared machine hit both
            pairs = [("ob", open_big), ("os", open_small), ("pb", page_big),
                     ("ps", page_small)]
            for key, fn in pairs if i % 2 == 0 else reversed(pairs):
                times[key].append(_time(fn) / (2 if key in ("pb", "ps") else 1))
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        ratio_open = statistics.median(b / s for b, s in zip(times["ob"], times["os"],
                                                               strict=True))
        ratio_page = statistics.median(b / s for b, s in zip(times["pb"], times["ps"],
                                                               strict=True))
        print(f"   open:  {args.pending:,} pending {med['ob']:.2f} ms   10 pending "
              f"{med['os']:.2f} ms   ratio {ratio_open:.2f}x")
        print(f"   page:  {args.pending:,} pending {med['pb']:.2f} ms   10 pending "
              f"{med['ps']:.2f} ms   ratio {ratio_page:.2f}x "
              f"(pages {pages // 2 + 1} and {pages} of {pages})")
        worst = max(ratio_open, ratio_page)
        print(f"   goal <= 3x: {'met' if worst <= 3 else 'MISSED'} (worst {worst:.2f}x; "
              "medians of the per-round ratios)")
        backend.dispose()


if __name__ == "__main__":
    main()
