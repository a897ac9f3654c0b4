"""Bulk import at scale (issue 14): all or nothing, idempotent, files no one here wrote,
first 100 errors, progress, passwords in a pool, kill -9 and Ctrl+C during the write."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from db.models import ActivationCode, AuditEvent, Customer
from db.staging import PostgresStaging
from services.importer import MAX_ERRORS, Progress, import_file, import_lines, validate_lines
from services.importer.hashing import BATCH
from tui.cli import main

KIOSK = Path(sys.executable).with_name("kiosk")


def customer(i: int, city: str = "Kassel", **extra: object) -> str:
    return json.dumps({"kind": "customer", "number": str(500000 + i), "last_name": "Größ",
                       "first_name": "Jürgen", "postal_code": "34117", "city": city,
                       "email": f"k{i}@example.de", **extra}, ensure_ascii=False)


def code(i: int, valid_until: str = "2030-12-31") -> str:
    return json.dumps({"kind": "activation_code", "customer_number": str(500000 + i),
                       "code": f"QX7K-M3PA-{i:06d}", "valid_until": valid_until})


def records(n: int, city: str = "Kassel", start: int = 0) -> list[str]:
    return ([customer(i, city) for i in range(start, start + n)]
            + [code(i) for i in range(start, start + n)])


@pytest.fixture(params=["merged at the end", "merged while reading"])
def merges(request, backend, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """PostgreSQL merges runs of a kind while it reads (``PostgresStaging.EARLY`` rows at a
    time): the same tests with chunks of 7 rows, so that every file has many of them."""
    if request.param == "merged while reading":
        if backend.is_sqlite:
            pytest.skip("SQLite merges after reading only")
        monkeypatch.setattr(PostgresStaging, "EARLY", 7)
    return request.param


def count(backend, model) -> int:  # type: ignore[no-untyped-def]
    with backend.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def cities(backend) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with backend.transaction() as s:
        return dict(s.execute(select(Customer.city, func.count()).group_by(Customer.city)).all())


def test_a_bad_last_line_after_many_good_ones_writes_nothing(backend, merges) -> None:
    lines = records(6000) + ['{"kind": "customer", "number": "X", "last_name": "A", "oops": 1}']
    report = import_lines(backend, lines)
    assert [(e.line, e.reason) for e in report.errors] == [(12001, "unknown field 'oops'")]
    assert report.error_count == 1 and "nothing was imported" in report.summary()
    for model in (Customer, ActivationCode, AuditEvent):
        assert count(backend, model) == 0


def test_reimport_says_unchanged_and_counts_updates(backend, merges) -> None:
    first = import_lines(backend, records(300))
    assert {k: vars(c) for k, c in first.changes.items()} == {
        "customer": {"inserted": 300, "updated": 0, "unchanged": 0},
        "activation_code": {"inserted": 300, "updated": 0, "unchanged": 0}}
    with backend.transaction() as s:
        stamp = s.scalar(select(Customer.updated_at).where(Customer.number == "500007"))
    backend.clock.advance(hours=1)
    again = import_lines(backend, records(300))
    assert {k: vars(c) for k, c in again.changes.items()} == {
        "customer": {"inserted": 0, "updated": 0, "unchanged": 300},
        "activation_code": {"inserted": 0, "updated": 0, "unchanged": 300}}
    with backend.transaction() as s:  # an unchanged row is not touched at all
        assert s.scalar(select(Customer.updated_at).where(Customer.number == "500007")) == stamp
    changed = records(300)
    changed[7] = customer(7, "Wien", postal_code="1010", country="AT")
    changed[300 + 9] = code(9, "2031-01-31")
    changed.append(customer(300))
    third = import_lines(backend, changed)
    assert {k: vars(c) for k, c in third.changes.items()} == {
        "customer": {"inserted": 1, "updated": 1, "unchanged": 299},
        "activation_code": {"inserted": 0, "updated": 1, "unchanged": 299}}
    assert cities(backend) == {"Kassel": 300, "Wien": 1}
    assert count(backend, ActivationCode) == 300


def test_references_may_point_forward_and_are_checked_against_file_and_database(
    backend, merges,
) -> None:
    assert import_lines(backend, [code(1), customer(1)]).ok  # the code before its customer
    # codes of customers that come later, in runs longer than an early merge
    later = [code(i) for i in range(10, 40)] + [customer(i) for i in range(10, 40)]
    assert vars(import_lines(backend, later).changes["activation_code"]) == {
        "inserted": 30, "updated": 0, "unchanged": 0}
    report = import_lines(backend, [code(1), code(2), customer(3), code(3)])
    assert [(e.line, e.reason) for e in report.errors] == [(2, "unknown customer number 500002")]


def test_only_the_first_100_errors_are_kept_and_all_are_counted(backend, tmp_path, capsys,
                                                                monkeypatch, merges) -> None:
    bad = [json.dumps({"kind": "customer", "number": str(i)}) for i in range(150)]
    lines = records(5) + bad + [customer(1)]  # and a duplicate at the very end
    report = import_lines(backend, lines)
    assert report.error_count == 151
    assert len(report.errors) == MAX_ERRORS
    assert [e.line for e in report.errors] == list(range(11, 11 + MAX_ERRORS))
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("KIOSK_HOME", str(backend.settings.home))
    assert main(["--db", backend.database_url, "import", "--quiet", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("line 11: ") and len(err) == MAX_ERRORS + 2
    assert err[-2] == "… and 51 more rejected line(s) not shown"
    assert err[-1] == "151 line(s) rejected; nothing was imported."
    assert count(backend, Customer) == 0


def test_duplicates_name_both_lines(backend, merges) -> None:
    report = import_lines(backend, [customer(1), code(1), customer(2), customer(1), code(1)])
    assert [(e.line, e.reason) for e in report.errors] == [
        (4, "customer 500001 appears twice in the file (first on line 1)"),
        (5, "this activation code for customer 500001 appears twice in the file "
            "(first on line 2)"),
    ]
    # a key twice within one early merge (the merge refuses it: savepoint, merged later)
    for lines, first, again in ((records(30) + [customer(29)], 30, 61),
                                (records(30)[:30] + [customer(40)] * 2 + records(30)[30:], 31, 32)):
        report = import_lines(backend, lines)
        assert [(e.line, e.reason.endswith(f"(first on line {first})")) for e in
                report.errors] == [(again, True)]
        assert count(backend, Customer) == 0 and count(backend, ActivationCode) == 0


def test_runs_of_a_kind_are_merged_while_the_file_is_read(backend, monkeypatch) -> None:
    """On PostgreSQL every 50 rows of a kind here, that is every block of lines (SQLite
    merges after reading only)."""
    monkeypatch.setattr(PostgresStaging, "EARLY", 50)
    chunks: list[str] = []
    real = PostgresStaging._merge_chunk

    def merge_chunk(self: PostgresStaging, kind: str) -> None:
        chunks.append(kind)
        real(self, kind)

    monkeypatch.setattr(PostgresStaging, "_merge_chunk", merge_chunk)
    report = import_lines(backend, records(5000))  # rows reach the stage 2,048 lines at once
    if backend.is_sqlite:
        assert chunks == []
    else:
        assert chunks.count("customer") == 3 and chunks.count("activation_code") == 3
    assert report.ok
    assert {k: vars(c) for k, c in report.changes.items()} == {
        "customer": {"inserted": 5000, "updated": 0, "unchanged": 0},
        "activation_code": {"inserted": 5000, "updated": 0, "unchanged": 0}}
    assert count(backend, Customer) == 5000 and count(backend, ActivationCode) == 5000
    # a key twice in two early merges: the second updated the first, the checks refuse the
    # file, and the rollback takes both back
    report = import_lines(backend, records(5000, "Graz") + [customer(1, "Graz")])
    assert [e.line for e in report.errors] == [10001]
    assert cities(backend) == {"Kassel": 5000}
    # a refused line stops the early merges; what comes after it is still checked
    report = import_lines(backend, records(5000, "Graz", start=5000) + ["{oops", code(99999)])
    assert [(e.line, e.reason.split(" (")[0]) for e in report.errors] == [
        (10001, "malformed JSON"), (10002, "unknown customer number 599999")]
    assert cities(backend) == {"Kassel": 5000}


def test_dry_run_validates_everything_and_writes_nothing(backend, tmp_path, capsys,
                                                         monkeypatch) -> None:
    report = validate_lines(backend, records(50))
    assert report.ok and report.dry_run and report.customers == 50
    assert report.summary().startswith("dry run: 50 customers")
    assert validate_lines(backend, [code(77)]).errors[0].reason == "unknown customer number 500077"
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(records(50)) + "\n", encoding="utf-8")
    monkeypatch.setenv("KIOSK_HOME", str(backend.settings.home))
    assert main(["--db", backend.database_url, "import", "--dry-run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "dry run: 50 customers" in out and "nothing was written" in out
    for model in (Customer, ActivationCode, AuditEvent):
        assert count(backend, model) == 0


def test_bom_crlf_blank_lines_and_gzip(backend, tmp_path) -> None:
    body = b"\xef\xbb\xbf" + b"\r\n".join(
        line.encode() for line in records(20)[:20] + ["", "   "] + records(20)[20:]) + b"\r\n"
    plain = tmp_path / "records.jsonl"
    plain.write_bytes(body)
    report = import_file(backend, plain)
    assert report.ok and report.lines == 42 and report.counts["activation_code"] == 20
    packed = tmp_path / "records.jsonl.gz"
    packed.write_bytes(gzip.compress(body.replace(b'"Kassel"', b'"Graz"')))
    report = import_file(backend, packed)
    assert report.ok and report.changes["customer"].updated == 20
    assert cities(backend) == {"Graz": 20}


def test_broken_gzip_is_one_sentence_and_writes_nothing(backend, tmp_path, capsys,
                                                        monkeypatch) -> None:
    packed = gzip.compress(("\n".join(records(200)) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    monkeypatch.setenv("KIOSK_HOME", str(backend.settings.home))
    assert main(["--db", backend.database_url, "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kiosk: cut.jsonl.gz cannot be read to its end") and "Traceback" not in err
    assert count(backend, Customer) == 0


def _env(backend) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(os.environ, KIOSK_HOME=str(backend.settings.home),
                KIOSK_DATABASE_URL=backend.database_url)


def test_standard_input_plain_and_gzip(backend) -> None:
    body = ("\n".join(records(30)) + "\n").encode()
    for data in (body, gzip.compress(body)):
        done = subprocess.run([str(KIOSK), "import", "-"], input=data, env=_env(backend),
                              capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
        out = done.stdout.decode()
        assert out.splitlines()[0] == "reading standard input"
        assert "30 customers, 0 products, 30 activation codes" in out
    assert "customers: 0 inserted, 0 updated, 30 unchanged" in out
    assert count(backend, Customer) == 30


def test_progress_events_cover_reading_checking_and_writing(backend, tmp_path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(records(9000)) + "\n", encoding="utf-8")
    events: list[Progress] = []
    assert import_file(backend, path, progress=events.append).ok
    phases = [e.phase for e in events]
    assert phases[0] == "reading" and "checking" in phases and phases[-1] == "writing"
    reading = [e for e in events if e.phase == "reading"]
    assert reading[-1].done == reading[-1].total == path.stat().st_size
    assert reading[-1].lines == 18000 and reading[0].lines < 18000
    written = [(e.kind, e.done) for e in events if e.phase == "writing"]
    assert ("customer", 9000) in written and ("activation_code", 9000) in written


def test_passwords_are_hashed_in_a_pool_and_kept_on_reimport(backend, merges) -> None:
    n = BATCH + 5  # one batch goes to the process pool, the rest is hashed here
    lines = [customer(i, password=f"Kundenpasswort-{i}-Graz") for i in range(n)]
    report = import_lines(backend, lines)
    assert report.ok and report.passwords_hashed == n
    with backend.transaction() as s:
        stored = dict(s.execute(select(Customer.number, Customer.password_hash)).all())
    assert backend.hasher.verify(stored["500003"], "Kundenpasswort-3-Graz")
    assert backend.hasher.verify(stored[str(500000 + n - 1)], f"Kundenpasswort-{n - 1}-Graz")
    lines[2] = customer(2, password="Ein-neues-Passwort-42")
    again = import_lines(backend, lines)
    assert vars(again.changes["customer"]) == {"inserted": 0, "updated": 1, "unchanged": n - 1}
    with backend.transaction() as s:
        now = dict(s.execute(select(Customer.number, Customer.password_hash)).all())
    assert {k for k in now if now[k] != stored[k]} == {"500002"}
    assert backend.hasher.verify(now["500002"], "Ein-neues-Passwort-42")
    # no password in the file: the stored one stays
    assert import_lines(backend, [customer(2)]).changes["customer"].unchanged == 1


def test_a_refused_file_hashes_no_further_passwords(backend, merges) -> None:
    lines = ["{oops"] + [customer(i, password=f"Kundenpasswort-{i}") for i in range(BATCH * 3)]
    report = import_lines(backend, lines)
    assert report.error_count == 1 and report.passwords_hashed == 0
    assert count(backend, Customer) == 0


# --------------------------------------------------------------------------- interrupted


def _integrity(backend) -> None:  # type: ignore[no-untyped-def]
    if backend.is_sqlite:
        with backend.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.parametrize("how", ["kill -9", "Ctrl+C"])
def test_interrupted_write_leaves_the_previous_data(backend, tmp_path, how: str) -> None:
    n = 25_000
    assert import_lines(backend, records(n, "Alt")).ok
    path = tmp_path / "next.jsonl"
    lines = records(2 * n, "Neu")
    # the codes before their customers: PostgreSQL cannot merge them while it reads (it merges
    # runs of a kind early, PostgresStaging.EARLY), so they are written after the checks
    lines = lines[2 * n:] + lines[:2 * n]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.Popen([str(KIOSK), "import", str(path)], env=_env(backend),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            # customers are merged (in the open transaction); the codes are being written
            if line.startswith("writing") and "activation codes" in line:
                break
        proc.send_signal(signal.SIGSTOP)
        assert proc.poll() is None, seen  # caught inside the write transaction
        assert any(line.startswith("writing 50,000 customers") for line in seen), seen
        if how == "kill -9":
            proc.kill()
            proc.wait(timeout=30)
        else:
            proc.send_signal(signal.SIGINT)
            proc.send_signal(signal.SIGCONT)
            code = proc.wait(timeout=120)
            errors = proc.stderr.read()  # type: ignore[union-attr]
            assert code == 130, errors
            assert "interrupted; nothing was imported" in errors
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    _integrity(backend)
    assert cities(backend) == {"Alt": n}
    assert count(backend, ActivationCode) == n
    assert count(backend, AuditEvent) == 1  # the first import's only
    # usable: the same file goes in now, the staging tables of the dead import are gone
    report = import_file(backend, path)
    assert report.ok and vars(report.changes["customer"]) == {
        "inserted": n, "updated": n, "unchanged": 0}
    assert cities(backend) == {"Neu": 2 * n}
    _integrity(backend)
    if not backend.is_sqlite:
        with backend.engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                "AND datname = current_database()")).scalar() == 0


def test_reading_a_file_blocks_no_other_writer(backend) -> None:
    """The staging tables are the import's own: while it reads (on SQLite: before its single
    write transaction), the portal goes on writing."""
    from services import audit

    written = []

    def progress(event: Progress) -> None:
        if event.phase == "reading" and not written:
            with backend.transaction() as s:  # would wait for the busy timeout, then fail
                audit.record(s, "portal.write", now=backend.now())
            written.append(event.lines)

    assert import_lines(backend, records(9000), progress=progress).ok
    assert written == [8192]
    assert count(backend, AuditEvent) == 2 and count(backend, Customer) == 9000


def test_progress_displays_show_each_phase() -> None:
    import io

    from tui.import_command import BarProgress, PlainProgress

    events = [Progress("reading", 100, 1000, 8192), Progress("reading", 1000, 1000, 9000),
              Progress("hashing", 0, None, 9000), Progress("checking", lines=9000),
              Progress("writing", 0, 9000, 9000, "customer"),
              Progress("writing", 9000, 9000, 9000, "customer"),
              Progress("writing", 0, 1, 9000, "activation_code")]
    for display in (PlainProgress, BarProgress):
        out = io.StringIO()
        shown = display(out, "records.jsonl")
        for event in events:
            shown(event)
        shown.close()
        text = out.getvalue()
        for needle in ("reading records.jsonl", "hashing customer passwords",
                       "checking duplicates", "writing 9,000 customers",
                       "writing 1 activation code"):
            assert needle in text, (display.__name__, needle, text)


# --------------------------------------------------------------------------- validation pool


def test_a_long_file_is_validated_by_the_pool_with_the_same_verdicts(backend, monkeypatch) -> None:
    """Blocks validated in worker processes come back in the file's order: the same line
    numbers, the same first 100 errors and total, the same rows as one process."""
    from services.importer import validate

    monkeypatch.setattr(validate, "BLOCK", 97)  # blocks that end mid-way through anything
    monkeypatch.setattr(validate, "INLINE_BLOCKS", 2)
    good = records(1500)
    bad = list(good)
    wrong = [5, 250, 1333, 2003]  # line numbers: inline, pool, pool, after the blank line
    for line in wrong[:3]:
        bad.insert(line - 1, '{"kind": "customer"')
    bad.insert(1999, "")  # line 2000 is blank: it counts
    bad.insert(wrong[3] - 1, '{"kind": "customer"')
    report = validate_lines(backend, bad + ["{oops"] * 150)
    assert [e.line for e in report.errors[:4]] == wrong
    assert {e.reason for e in report.errors[:4]} == {"malformed JSON (EOF while parsing an "
                                                     "object at line 1 column 19)"}
    assert report.error_count == 4 + 150 and report.lines == 3005 + 150
    assert len(report.errors) == MAX_ERRORS and report.errors == sorted(report.errors)
    assert report.errors[4].line == 3006  # the first "{oops"
    monkeypatch.setattr(validate, "workers", lambda: 2)
    report = import_lines(backend, good)
    assert report.ok and report.lines == 3000
    assert count(backend, Customer) == 1500 and count(backend, ActivationCode) == 1500


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kill_9_while_the_pool_validates_leaves_no_worker_behind(backend, tmp_path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(records(60_000)) + "\n", encoding="utf-8")
    proc = subprocess.Popen([str(KIOSK), "import", str(path)], env=_env(backend),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = [p for p in _children(proc.pid) if "spawn_main" in Path(
                f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        assert len(workers) >= 2, "the pool did not start"
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert count(backend, Customer) == 0
    assert import_file(backend, path).ok  # and the database is usable
