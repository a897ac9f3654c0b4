"""Import throughput: `kiosk import` (services.importer) against raw sqlite3 executemany.

    python -m benchmarks.bench_import [--rows N] [--keep DIR]

Generates N customer lines (umlaut names, e-mail, IBAN, birth date), imports them into a
fresh SQLite file through ``import_file`` (full validation, normalisation, upsert), then
loads the same file into a second fresh database of the same schema with plain ``sqlite3``:
``json.loads`` per line and one ``executemany`` INSERT, no validation. Both throughputs and
their ratio are printed (goal: the importer reaches at least 50 % of the raw loader).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from schwifty import IBAN

from db.engine import make_engine
from db.migrate import upgrade
from services.backend import Backend
from services.config import Settings
from services.importer import import_file

FIRST = ["Jürgen", "Maximilian", "Sophie", "Özlem", "Lukas", "Anna", "Björn", "Marie", "Ömer",
         "Leonie", "Käthe", "Paul", "Emma", "Jörg", "Lena", "Felix"]
LAST = ["Müller", "Schmidt", "Größ", "Österreicher", "Weiß", "Schäfer", "Bäcker", "Huber",
        "Gruber", "Wagner", "Köhler", "Löwe", "Fuchs", "Krämer", "Brandstätter", "Meier"]
CITIES = [("DE", "34117", "Kassel"), ("DE", "80331", "München"), ("DE", "50667", "Köln"),
          ("AT", "1010", "Wien"), ("AT", "8010", "Graz"), ("DE", "20095", "Hamburg")]
DOMAINS = ["example.de", "example.at", "mail.example.com", "beispiel.de", "post.example.org"]

COLUMNS = ["number", "type", "salutation", "first_name", "last_name", "birth_date", "street",
           "postal_code", "city", "country", "phone", "email", "iban", "search_name",
           "created_at", "updated_at"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
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
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


def fresh_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def run_importer(workdir: Path, data: Path) -> float:
    url = fresh_db(workdir / "importer.db")
    backend = Backend(Settings(home=workdir / "home"), database_url=url)
    backend.digester  # noqa: B018 - create the secret key outside the timing
    start = time.perf_counter()
    report = import_file(backend, data)
    elapsed = time.perf_counter() - start
    if report.errors:
        raise SystemExit(f"importer rejected lines: {report.errors[:3]}")
    backend.dispose()
    return elapsed


def run_raw(workdir: Path, data: Path) -> tuple[float, float]:
    """Raw sqlite3: (seconds for json.loads + executemany, seconds for executemany alone)."""
    fresh_db(workdir / "raw.db")
    conn = sqlite3.connect(workdir / "raw.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    sql = (f"INSERT INTO customer ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    start = time.perf_counter()
    with data.open(encoding="utf-8") as handle:
        rows = []
        for raw in handle:
            r = json.loads(raw)
            rows.append((r["number"], r["type"], r["salutation"], r["first_name"],
                         r["last_name"], r["birth_date"], r["street"], r["postal_code"],
                         r["city"], r["country"], r["phone"], r["email"], r["iban"],
                         r["last_name"].lower(), now, now))
    parsed = time.perf_counter()
    with conn:
        conn.executemany(sql, rows)
    end = time.perf_counter()
    conn.close()
    return end - start, end - parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_import")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep the files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        data = workdir / "customers.jsonl"
        generate(data, args.rows)
        size = data.stat().st_size / 1e6
        print(f"rows: {args.rows:,}  file: {size:.1f} MB")
        t_imp = run_importer(workdir, data)
        t_raw, t_insert = run_raw(workdir, data)
        n = args.rows
        print(f"importer (validate + upsert):      {n / t_imp:>10,.0f} rows/s  ({t_imp:.2f} s)")
        print(f"raw sqlite3 (json.loads + insert): {n / t_raw:>10,.0f} rows/s  ({t_raw:.2f} s)")
        print(f"raw sqlite3 (executemany only):    {n / t_insert:>10,.0f} rows/s  "
              f"({t_insert:.2f} s)")
        print(f"ratio importer / raw loader:       {t_raw / t_imp:>10.0%}  (goal >= 50 %)")
        print(f"ratio importer / raw executemany:  {t_insert / t_imp:>10.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
