"""What operations (#17) cost a login and a link: the same flows with and without it, in one
run, interleaved in rounds.

    python -m benchmarks.bench_metrics [--rounds R] [--logins L] [--links K] [--audit-rows N]

The counters are computed from the database at scrape time, so a flow pays only for
(a) the audit index ``ix_audit_log_event_outcome`` (one more index entry per audit row),
(b) the session listeners of ``services.logs`` that log each committed audit event, and
(c) writing those lines (JSON, to a file). "off" is a database without the index, the
listeners removed and no handler; "on" has all three — two fresh SQLite files (or two
PostgreSQL databases named with ``--db`` and ``--db2``) loaded alike. Each round runs L
logins and K links on each side. Measured is CPU time: the calling thread's per call, plus —
on the "on" side — all the CPU time the log writer thread spent formatting and writing its
lines; unlike wall time it hardly moves with the load others put on a shared machine.
Overhead = total on / total off − 1. Reported: the p50 of
each side and the overhead; goal <= 2 % for both flows. The two sides alternate call by
call, so drift hits both alike; the median of the per-pair ratios and wall p50s are shown
too. Then the price of a
scrape (``Exporter.render``) with N audit rows (default 200,000) — paid by the scraper, not
by a flow.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session as OrmSession

from benchmarks.bench_link import _accounts, _code, _load
from db.engine import make_engine
from db.migrate import upgrade
from db.models import AuditEvent
from services import accounts, customer_numbers, logs
from services.backend import Backend
from services.caller import Caller
from services.config import Settings
from services.metrics import Exporter

PASSWORD = "blauer Kaffeebecher am Fenster"
LISTENERS = (("after_begin", logs._began), ("after_flush", logs._flushed),
             ("after_commit", logs._committed), ("after_rollback", logs._rolled_back))


def _side(url: str, home: Path, links: int, with_index: bool) -> tuple[Backend, list[str], str]:
    engine = make_engine(url)
    upgrade(engine)
    if not with_index:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_audit_log_event_outcome"))
    engine.dispose()
    backend = Backend(Settings(home=home, terminal_id="bench"),  # type: ignore[arg-type]
                      database_url=url)
    caller = Caller(terminal_id="bench")
    email = f"bench-{time.time_ns()}@example.com"
    accounts.register(backend, {
        "type": "private", "email": email, "password": PASSWORD, "password_confirm": PASSWORD,
        "first_name": "Bea", "last_name": "Benchmark", "street": "Teststr. 1",
        "postal_code": "34117", "city": "Kassel", "terms": True}, caller)
    with backend.transaction() as db:
        from services.mail import outbox
        code = [m for m in outbox(db) if m.to == email][-1].params["code"]
    accounts.verify_email(backend, email, code, caller)
    _load(backend, links)  # customers 7000000 + i with the codes _code(i), as bench_link
    tokens = _accounts(backend, links)
    return backend, tokens, email


def _operations(on: bool, handler: logging.Handler) -> None:
    root = logging.getLogger()
    for name, fn in LISTENERS:
        present = event.contains(OrmSession, name, fn)
        if on and not present:
            event.listen(OrmSession, name, fn)
        elif not on and present:
            event.remove(OrmSession, name, fn)
    if on:
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    else:
        root.removeHandler(handler)
        root.setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_metrics", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--logins", type=int, default=8, help="per side and round")
    parser.add_argument("--links", type=int, default=60, help="per side and round")
    parser.add_argument("--audit-rows", type=int, default=200_000)
    parser.add_argument("--db", default=None, help="'off' database URL (default: SQLite file)")
    parser.add_argument("--db2", default=None, help="'on' database URL (with --db)")
    parser.add_argument("--control", action="store_true",
                        help="A/A run: both sides 'off' (shows the noise of the machine)")
    args = parser.parse_args(argv or [])
    total_links = args.rounds * args.links
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "key").mkdir()
        key_home = home / "key"
        off_url = args.db or f"sqlite:///{home / 'off.db'}"
        on_url = args.db2 or f"sqlite:///{home / 'on.db'}"
        logs.install_audit_lines()  # registers once; _operations toggles them per side
        handler = logs.configure("json", home / "kiosk.jsonl", terminal_id="bench")
        logging.getLogger().removeHandler(handler)
        _operations(False, handler)
        sides = {"off": _side(off_url, key_home, total_links, with_index=False),
                 "on": _side(on_url, key_home, total_links, with_index=not args.control)}
        active = {"off": False, "on": not args.control}
        caller = Caller(terminal_id="bench")
        times: dict[tuple[str, str], list[float]] = {
            (side, flow): [] for side in sides for flow in ("login", "link")}
        used = dict.fromkeys(sides, 0)
        for side in sides:  # warm up
            _operations(active[side], handler)
            backend, _tokens, email = sides[side]
            accounts.login(backend, email, PASSWORD, caller)
        wall: dict[tuple[str, str], list[float]] = {k: [] for k in times}

        # The log writer thread's CPU time, all of it on behalf of the "on" side (the only
        # side that logs); it is added to that side's total below.
        writer_cpu = {"login": 0.0, "link": 0.0, "current": "login"}
        write_batch = handler.flush

        def counted_flush() -> None:
            a = time.thread_time()
            write_batch()
            writer_cpu[writer_cpu["current"]] += time.thread_time() - a  # type: ignore[operator]

        handler.flush = counted_flush  # type: ignore[method-assign]

        def timed(side: str, flow: str, call: Callable[[], object]) -> float:
            """CPU time of this thread for the call — what the machine's other load changes
            least — the writer thread's share is counted separately (``writer_cpu``)."""
            a, w = time.thread_time(), time.perf_counter()
            call()
            wall[(side, flow)].append(time.perf_counter() - w)
            return time.thread_time() - a

        def login(side: str) -> float:
            backend, _tokens, email = sides[side]
            return timed(side, "login", lambda: accounts.login(backend, email, PASSWORD, caller))

        def link(side: str) -> float:
            backend, tokens, _email = sides[side]
            i = used[side]
            used[side] += 1
            return timed(side, "link", lambda: customer_numbers.link_customer_number(
                backend, tokens[i], _code(i), f"{7_000_000 + i}", caller))

        # Call by call, the two sides alternate (who goes first alternates too), so that
        # the load of a shared machine hits both alike; compared are the per-pair ratios.
        pairs: dict[str, list[float]] = {"login": [], "link": []}
        for round_ in range(args.rounds):
            for flow, fn, count in (("login", login, args.logins), ("link", link, args.links)):
                logs.flush()
                writer_cpu["current"] = flow
                for n in range(count):
                    order = ("off", "on") if (round_ + n) % 2 == 0 else ("on", "off")
                    took = {}
                    for side in order:
                        _operations(active[side], handler)
                        took[side] = fn(side)
                        times[(side, flow)].append(took[side])
                    pairs[flow].append(took["on"] / took["off"])
        logs.flush()
        _operations(True, handler)
        lines = (home / "kiosk.jsonl").read_text().count("\n")
        print(("CONTROL (A/A: both sides off); " if args.control else "")
              + f"{args.rounds} rounds; per side {args.rounds * args.logins} logins and "
              f"{total_links} links ({sides['on'][0].engine.dialect.name}); "
              f"{lines} log lines written by 'on'")
        for flow in ("login", "link"):
            off = sum(times[("off", flow)])
            on = sum(times[("on", flow)]) + writer_cpu[flow]
            overhead = on / off - 1
            print(f"{flow:6} CPU per call off {off / len(times[('off', flow)]) * 1e3:7.3f} ms"
                  f"  on {on / len(times[('on', flow)]) * 1e3:7.3f} ms   overhead "
                  f"{overhead:+6.2%}  (goal <= 2 %) -> "
                  f"{'OK' if overhead <= 0.02 else 'ABOVE GOAL'};  median of "
                  f"{len(pairs[flow])} pair ratios {statistics.median(pairs[flow]) - 1:+6.2%};"
                  f"  wall p50 off {statistics.median(wall[('off', flow)]) * 1e3:.3f} / on "
                  f"{statistics.median(wall[('on', flow)]) * 1e3:.3f} ms")
        # the price of a scrape, paid by the scraper
        backend = sides["on"][0]
        with backend.engine.begin() as conn:
            now = backend.now()
            for start in range(0, args.audit_rows, 20_000):
                conn.execute(insert(AuditEvent), [
                    {"at": now, "event": ("login", "customer_linked", "licence_redeem",
                                          "desk_customer_viewed")[i % 4],
                     "outcome": ("ok", "failed")[i % 7 == 0], "details": {}}
                    for i in range(start, min(start + 20_000, args.audit_rows))])
        exporter = Exporter(backend)
        exporter.render()
        scrape = []
        for _ in range(5):
            a = time.perf_counter()
            exporter.render()
            scrape.append(time.perf_counter() - a)
        print(f"scrape with {args.audit_rows:,} more audit rows: p50 "
              f"{statistics.median(scrape) * 1e3:.1f} ms")
        for backend, _t, _e in sides.values():
            backend.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
