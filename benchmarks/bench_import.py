"""Import at scale: `kiosk import` (services.importer) against raw loaders of the same file.

    python -m benchmarks.bench_import [--rows N] [--ten-million] [--no-postgres]
                                      [--no-reimport] [--passwords P] [--keep DIR]
                                      [--db postgresql://…]

Generates N customer lines (umlaut names, e-mail, IBAN, birth date) followed by N activation
code lines (default N = 1,000,000: 2,000,000 lines; ``--ten-million``: 5,000,000 + 5,000,000)
and loads that file, each loader in a child process of its own, into a fresh database:

- SQLite: ``import_file`` (full validation, HMAC of the codes, staging, merge) against a raw
  sqlite3 loader (``json.loads`` per line, ``executemany`` in one transaction, no checks);
- PostgreSQL: ``import_file`` (``COPY`` into staging tables, one ``INSERT … ON CONFLICT`` per
  kind) against a raw ``COPY`` of the same rows (``json.loads``, ids assigned by the loader,
  ``cursor.copy`` straight into ``customer`` and ``activation_code``).

Printed per loader: lines/s, wall and CPU seconds of the load itself (the child's user +
system time from ``resource.getrusage``, its hashing pool included, plus on PostgreSQL the CPU
time of its server process from /proc) and
the child's peak RSS (the largest of the child and its own children); then the ratios
importer / raw by wall clock and by CPU time (goal: at least 50 %; peak RSS at most 400 MB).
On a shared machine the wall clock of two runs a minute apart sees different loads; the CPU
time is what the work itself costs. Then a re-import of the same file into the SQLite database (all
"unchanged"), and, separately, the argon2id rate for customer passwords with the process
pool (P customers with a password, on SQLite) and what that means for 1,000,000 passwords.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from schwifty import IBAN
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db.engine import make_engine
from db.migrate import upgrade

FIRST = ["Jürgen", "Maximilian", "Sophie", "Özlem", "Lukas", "Anna", "Björn", "Marie", "Ömer",
         "Leonie", "Käthe", "Paul", "Emma", "Jörg", "Lena", "Felix"]
LAST = ["Müller", "Schmidt", "Größ", "Österreicher", "Weiß", "Schäfer", "Bäcker", "Huber",
        "Gruber", "Wagner", "Köhler", "Löwe", "Fuchs", "Krämer", "Brandstätter", "Meier"]
CITIES = [("DE", "34117", "Kassel"), ("DE", "80331", "München"), ("DE", "50667", "Köln"),
          ("AT", "1010", "Wien"), ("AT", "8010", "Graz"), ("DE", "20095", "Hamburg")]
DOMAINS = ["example.de", "example.at", "mail.example.com", "beispiel.de", "post.example.org"]
CODE_CHARS = "ACDEFGHJKMNPQRTUVWXY34679"

COLUMNS = ["number", "type", "salutation", "first_name", "last_name", "birth_date", "street",
           "postal_code", "city", "country", "phone", "email", "iban", "search_name",
           "created_at", "updated_at"]
CHUNK = 5000


def generate(path: Path, rows: int, seed: int = 7, passwords: bool = False) -> None:
    rnd = random.Random(seed)
    ibans = [str(IBAN.generate("DE", bank_code="37040044", account_code=str(1000000 + i)))
             for i in range(997)]
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            country, postal, city = rnd.choice(CITIES)
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            rec = {
                "kind": "customer", "number": str(10_000_000 + i),
                "type": rnd.choice(("private", "private", "teacher", "organiser")),
                "salutation": rnd.choice(("Herr", "Frau")), "first_name": first,
                "last_name": last,
                "birth_date": (dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(20000))
                               ).isoformat(),
                "street": f"Hauptstraße {rnd.randrange(1, 200)}", "postal_code": postal,
                "city": city, "country": country, "phone": f"+49 561 {rnd.randrange(10**6):06d}",
                "email": f"kunde{i}@{rnd.choice(DOMAINS)}", "iban": ibans[i % len(ibans)],
            }
            if passwords:
                rec["password"] = f"Kundenpasswort-{i}-{rnd.randrange(10**9)}"
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        if passwords:
            return
        for i in range(rows):
            code = "".join(rnd.choice(CODE_CHARS) for _ in range(12))
            out.write(json.dumps({"kind": "activation_code", "customer_number": str(10_000_000 + i),
                                  "code": f"{code[:4]}-{code[4:8]}-{code[8:]}",
                                  "valid_until": "2030-12-31"}) + "\n")


# --------------------------------------------------------------------------- children


def own_cpu() -> float:
    """CPU seconds of this process and its finished children (the hashing pool)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def backend_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) the PostgreSQL server process ``pid`` has used so far
    (the server runs on this machine; 0 when its /proc entry cannot be read)."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")



def child_importer(url: str, data: Path, home: Path) -> dict[str, Any]:
    from services.backend import Backend
    from services.config import Settings
    from services.importer import import_file

    backend = Backend(Settings(home=home), database_url=url)
    backend.digester  # noqa: B018 - create the secret key outside the timing
    pid = None
    if not backend.is_sqlite:  # the import reuses this pooled connection (the pool's only one)
        with backend.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    server, cpu = backend_cpu(pid), own_cpu()
    start = time.perf_counter()
    report = import_file(backend, data)
    elapsed = time.perf_counter() - start
    server, cpu = backend_cpu(pid) - server, own_cpu() - cpu
    if report.error_count:
        raise SystemExit(f"importer rejected lines: {report.errors[:3]}")
    backend.dispose()
    return {"seconds": elapsed, "lines": report.lines, "passwords": report.passwords_hashed,
            "server_cpu": server, "cpu": cpu,
            "changes": {k: vars(c) for k, c in report.changes.items()}}


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")


def child_raw_sqlite(url: str, data: Path) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(make_url(url).database)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    customer_sql = (f"INSERT INTO customer ({', '.join(COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in COLUMNS)})")
    code_sql = ("INSERT INTO activation_code (customer_id, code_digest, valid_until, created_at) "
                "VALUES ((SELECT id FROM customer WHERE number = ?), ?, ?, ?)")
    now = _now()
    cpu = own_cpu()
    start = time.perf_counter()
    lines = 0
    customers: list[tuple[Any, ...]] = []
    codes: list[tuple[Any, ...]] = []
    with data.open(encoding="utf-8") as handle, conn:
        for raw in handle:
            lines += 1
            r = json.loads(raw)
            if r["kind"] == "customer":
                customers.append((r["number"], r["type"], r["salutation"], r["first_name"],
                                  r["last_name"], r["birth_date"], r["street"], r["postal_code"],
                                  r["city"], r["country"], r["phone"], r["email"], r["iban"],
                                  r["last_name"].lower(), now, now))
                if len(customers) >= CHUNK:
                    conn.executemany(customer_sql, customers)
                    customers.clear()
            else:
                if customers:
                    conn.executemany(customer_sql, customers)
                    customers.clear()
                codes.append((r["customer_number"], r["code"], r["valid_until"], now))
                if len(codes) >= CHUNK:
                    conn.executemany(code_sql, codes)
                    codes.clear()
        conn.executemany(customer_sql, customers)
        conn.executemany(code_sql, codes)
    elapsed = time.perf_counter() - start
    cpu = own_cpu() - cpu
    conn.close()
    return {"seconds": elapsed, "lines": lines, "cpu": cpu}


def child_raw_copy(url: str, data: Path) -> dict[str, Any]:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = dt.datetime.now(dt.UTC)
    cpu = own_cpu()
    start = time.perf_counter()
    lines = 0
    ids: dict[str, int] = {}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        server = backend_cpu(conn.info.backend_pid)
        customer_copy = cur.copy(f"COPY customer (id, {', '.join(COLUMNS)}) FROM STDIN")
        codes: list[tuple[Any, ...]] = []
        with data.open(encoding="utf-8") as handle:
            copy = customer_copy.__enter__()
            for raw in handle:
                lines += 1
                r = json.loads(raw)
                if r["kind"] != "customer":
                    codes.append((r["customer_number"], r["code"], r["valid_until"]))
                    break
                ident = ids[r["number"]] = len(ids) + 1
                copy.write_row((ident, r["number"], r["type"], r["salutation"], r["first_name"],
                                r["last_name"], r["birth_date"], r["street"], r["postal_code"],
                                r["city"], r["country"], r["phone"], r["email"], r["iban"],
                                r["last_name"].lower(), now, now))
            customer_copy.__exit__(None, None, None)
            with cur.copy("COPY activation_code (customer_id, code_digest, valid_until, "
                          "created_at) FROM STDIN") as copy:
                for number, code, valid in codes:
                    copy.write_row((ids[number], code, valid, now))
                for raw in handle:
                    lines += 1
                    r = json.loads(raw)
                    copy.write_row((ids[r["customer_number"]], r["code"], r["valid_until"], now))
        cur.execute("SELECT setval('customer_id_seq', %s)", (len(ids) or 1,))
        conn.commit()
        elapsed = time.perf_counter() - start
        server, cpu = backend_cpu(conn.info.backend_pid) - server, own_cpu() - cpu
    return {"seconds": elapsed, "lines": lines, "server_cpu": server, "cpu": cpu}


def run_child(kind: str, url: str, data: Path, home: Path) -> dict[str, Any]:
    """Run one loader in a child process; its result plus its peak RSS (MB)."""
    cmd = [sys.executable, "-m", "benchmarks.bench_import", "--child", kind, "--url", url,
           "--data", str(data), "--home", str(home)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{kind} failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["rss_mb"] = usage.ru_maxrss / 1024
    # CPU seconds of the loader (and of its PostgreSQL server process): what the work costs,
    # far less disturbed than the wall clock by the other jobs of a shared machine
    result["cpu"] += result.get("server_cpu", 0.0)
    return result


# --------------------------------------------------------------------------- set-up


def fresh_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def fresh_postgres(server: str, name: str) -> str:
    base = make_url(server.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def drop_postgres(server: str, url: str) -> None:
    base = make_url(server.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _line(label: str, result: dict[str, Any]) -> str:
    rate = result["lines"] / result["seconds"]
    return (f"{label:<40} {rate:>8,.0f} lines/s {result['seconds']:>7.1f} s wall "
            f"{result['cpu']:>7.1f} s CPU  peak RSS {result['rss_mb']:>4.0f} MB")


def _ratio(label: str, ours: dict[str, Any], raw: dict[str, Any]) -> str:
    return (f"{label}: {raw['seconds'] / ours['seconds']:.0%} by wall clock, "
            f"{raw['cpu'] / ours['cpu']:.0%} by CPU time (goal >= 50 %)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_import")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="customers (and as many activation codes)")
    parser.add_argument("--ten-million", action="store_true",
                        help="5,000,000 customers + 5,000,000 codes")
    parser.add_argument("--passwords", type=int, default=256,
                        help="customers with a password for the argon2id measurement (0: skip)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true",
                        help="PostgreSQL only (the 10,000,000-line run of one database at a time)")
    parser.add_argument("--no-reimport", action="store_true",
                        help="skip the second import of the same file into SQLite")
    parser.add_argument("--db", default=os.environ.get(
        "KIOSK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server (a database on it; fresh ones are created next to it)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep the files "
                        "(a file of the same size generated there before is used again)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = {"importer": lambda: child_importer(args.url, args.data, args.home),
                  "raw-sqlite": lambda: child_raw_sqlite(args.url, args.data),
                  "raw-copy": lambda: child_raw_copy(args.url, args.data)}[args.child]()
        print(json.dumps(result), flush=True)
        return 0
    rows = 5_000_000 if args.ten_million else args.rows
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        home = work / "home"
        data, made = work / "records.jsonl", work / "records.rows"
        if not (args.keep and data.exists() and made.exists()
                and made.read_text() == str(rows)):
            generate(data, rows)
            made.write_text(str(rows))
        print(f"file: {rows:,} customers + {rows:,} activation codes = {2 * rows:,} lines, "
              f"{data.stat().st_size / 1e6:,.0f} MB", flush=True)
        if not args.no_sqlite:
            imp_url = fresh_sqlite(work / "importer.db")
            sq = run_child("importer", imp_url, data, home)
            print(_line("SQLite  kiosk import", sq), flush=True)
            raw = run_child("raw-sqlite", fresh_sqlite(work / "raw.db"), data, home)
            print(_line("SQLite  raw json.loads + executemany", raw), flush=True)
            print(_ratio("SQLite  ratio importer / raw loader", sq, raw), flush=True)
            if not args.no_reimport:
                again = run_child("importer", imp_url, data, home)
                print(_line("SQLite  re-import of the same file", again), flush=True)
                print(f"        {again['changes']}", flush=True)
            for db_file in ("importer.db", "raw.db"):
                for suffix in ("", "-wal", "-shm"):
                    (work / (db_file + suffix)).unlink(missing_ok=True)
        if not args.no_postgres:
            pid = os.getpid()
            urls = [fresh_postgres(args.db, f"kiosk_bench_import_{pid}"),
                    fresh_postgres(args.db, f"kiosk_bench_import_raw_{pid}")]
            try:
                pg = run_child("importer", urls[0], data, home)
                print(_line("PostgreSQL  kiosk import (COPY + merge)", pg), flush=True)
                copy = run_child("raw-copy", urls[1], data, home)
                print(_line("PostgreSQL  raw json.loads + COPY", copy), flush=True)
                print(_ratio("PostgreSQL  ratio importer / raw COPY", pg, copy), flush=True)
            finally:
                for url in urls:
                    drop_postgres(args.db, url)
        if not args.keep:
            data.unlink()
        if args.passwords:
            pw_data = work / "passwords.jsonl"
            generate(pw_data, args.passwords, passwords=True)
            pw = run_child("importer", fresh_sqlite(work / "passwords.db"), pw_data, home)
            rate = pw["passwords"] / pw["seconds"]
            cores = len(os.sched_getaffinity(0))
            per = pw["cpu"] / pw["passwords"]
            print(_line(f"passwords: {pw['passwords']:,} customers, argon2id pool", pw))
            print(f"        {rate:,.1f} passwords/s here ({per * 1000:,.0f} ms CPU each, pool "
                  f"start included): 1,000,000 passwords take about "
                  f"{1_000_000 / rate / 3600:,.1f} h at this rate, "
                  f"{1_000_000 * per / cores / 3600:,.1f} h on {cores} idle cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
