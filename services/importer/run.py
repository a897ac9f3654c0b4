"""The import itself: read and validate line by line into staging tables, check what spans
lines in the database, merge in one transaction (see ``services.importer`` for the design)."""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor
from contextlib import closing, suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db.models import AuditEvent, Customer
from db.staging import ORDER, UNIQUE, Staging, bind_value, open_staging
from services.errors import DomainError
from services.importer.hashing import PasswordJobs, profile_of
from services.importer.report import MAX_ERRORS, ImportReport, KindChanges, LineError
from services.importer.validate import validated


class ImportFailed(DomainError):
    """The database refused the import; the sentence never contains a row's values."""


PROGRESS_EVERY = 8192  # lines


@dataclass(frozen=True)
class Progress:
    """One step of a running import, for a progress display.

    ``phase``: ``reading`` (``done`` = bytes of the input, ``total`` = its size or None),
    ``checking``, ``hashing`` (``done`` = passwords hashed), ``writing`` (``kind`` and
    ``done`` / ``total`` rows).
    """

    phase: str
    done: int = 0
    total: int | None = None
    lines: int = 0
    kind: str | None = None


ProgressFn = Callable[[Progress], None]


def run_import(
    backend: Any,
    lines: Iterable[bytes | str],
    *,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
    source: str | None = None,
    position: Callable[[], int | None] | None = None,
    size: int | None = None,
    session: Session | None = None,
) -> ImportReport:
    """Import ``lines`` (UTF-8 bytes or str, without line ends) all or nothing.

    With ``session`` the rows are written in the caller's transaction (the demo data);
    else the import runs its own transactions and records an audit event.
    """
    started = time.perf_counter()
    report = ImportReport(dry_run=dry_run)
    own = session is None
    if session is not None:
        session.flush()
    connection: Connection = backend.engine.connect() if own else session.connection()
    now = bind_value(connection, Customer.__table__, "created_at", backend.now())
    stage = open_staging(connection, own_transaction=own)
    stager = _Stager(stage, threaded=stage.dialect == "postgresql")
    jobs: PasswordJobs | None = None
    try:
        stage.create()
        if not dry_run:
            jobs = PasswordJobs(profile_of(backend.hasher), stage.existing_password_hashes,
                                stage.add_passwords)
            stage.allow_early(now)
        _read(backend, lines, stager, report, jobs, progress, position or (lambda: None), size)
        stager.finish()
        if jobs is not None:
            if report.error_count:
                jobs.close()  # the file is refused: no point in hashing the rest
            else:
                if jobs.pending or jobs.inflight:
                    _tell(progress, Progress("hashing", jobs.done, lines=report.lines))
                jobs.finish()
            report.passwords_hashed = jobs.done
        if progress:
            _tell(progress, Progress("checking", lines=report.lines))
        stage.index()
        for kind in ORDER:
            rows, total = stage.duplicates(kind, MAX_ERRORS)
            report.add_errors([_duplicate(kind, row) for row in rows], total)
        if not report.error_count and not dry_run:
            stage.begin_write()
        for kind in ORDER:
            rows, total = stage.missing(kind, MAX_ERRORS)
            what = "product sku" if kind == "licence_key" else "customer number"
            report.add_errors([LineError(line, f"unknown {what} {value}")
                               for line, value in rows], total)
        report.counts = dict(stage.staged)
        if report.error_count or dry_run:
            report.counts = report.counts if not report.error_count else dict.fromkeys(ORDER, 0)
            stage.rollback()
            return report
        _merge(now, stage, report, progress)
        if own:
            connection.execute(insert(AuditEvent.__table__), [{
                "at": backend.now(), "event": "import", "outcome": "ok",
                "details": {"counts": dict(report.counts), "lines": report.lines,
                            **({"source": source} if source else {})},
            }])
        stage.commit()
        return report
    except BaseException as exc:
        stager.abort()
        if jobs is not None:
            jobs.close()
        try:
            stage.rollback()
        except (sqlite3.Error, psycopg.Error, SQLAlchemyError):
            pass  # the connection is gone: the server or the file dropped the transaction
        if isinstance(exc, BrokenExecutor):  # a worker was killed (out of memory, kill)
            raise ImportFailed("A worker process of the import ended unexpectedly; nothing "
                               "was imported.") from None
        if isinstance(exc, sqlite3.Error | psycopg.Error | SQLAlchemyError):
            raise ImportFailed("The database refused the import ({reason}); nothing was "
                               "imported.", params={"reason": _db_reason(exc)}) from None
        raise
    finally:
        try:
            stage.close()
        finally:
            if own:
                connection.close()
            report.seconds = time.perf_counter() - started


def _db_reason(exc: BaseException) -> str:
    """What went wrong, without the statement or its parameters (a row's values)."""
    if isinstance(exc, SQLAlchemyError) and getattr(exc, "orig", None) is not None:
        exc = exc.orig  # type: ignore[attr-defined]
    if isinstance(exc, sqlite3.OperationalError):
        return str(exc)  # "database is locked", "disk I/O error": no values in them
    if isinstance(exc, psycopg.Error) and exc.sqlstate:
        return f"{type(exc).__name__}, SQLSTATE {exc.sqlstate}"
    return type(exc).__name__


def _tell(progress: ProgressFn | None, event: Progress) -> None:
    if progress is not None:
        progress(event)


def _duplicate(kind: str, row: tuple[Any, ...]) -> LineError:
    line, *key, first = row
    what = {
        "customer": f"customer {key[0]}", "product": f"product {key[0]}",
        "activation_code": f"this activation code for customer {key[0]}",
        "contract": f"contract {key[0]}", "licence_key": "this licence key",
        "membership": f"membership of {key[-1]} in {key[0]}" if len(key) == 2 else "",
    }[kind]
    assert len(key) == len(UNIQUE[kind])
    return LineError(line, f"{what} appears twice in the file (first on line {first})")


def _merge(now: Any, stage: Staging, report: ImportReport, progress: ProgressFn | None) -> None:
    for kind in ORDER:
        total = stage.staged[kind]
        if not total:
            continue
        if progress:
            progress(Progress("writing", 0, total, report.lines, kind))

        def step(done: int, kind: str = kind, total: int = total) -> None:
            if progress:
                progress(Progress("writing", done, total, report.lines, kind))

        merged = stage.merge(kind, now, step)
        report.changes[kind] = KindChanges(merged.inserted, merged.updated, merged.unchanged)


class _Stager:
    """Hands rows to the staging tables: on PostgreSQL from a thread of its own, so that the
    server stores (and merges, see ``db.staging.PostgresStaging``) one batch while the next
    lines are validated; at most ``DEPTH`` blocks wait for it."""

    DEPTH = 16

    def __init__(self, stage: Staging, *, threaded: bool) -> None:
        self.stage = stage
        self.error: BaseException | None = None
        self.queue: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] | None = None
        if threaded:
            self.queue = queue.Queue(maxsize=self.DEPTH)
            self.thread = threading.Thread(target=self._run, name="import-staging", daemon=True)
            self.thread.start()

    def __call__(self, fn: Callable[..., None], *args: Any) -> None:
        if self.queue is None:
            fn(*args)
            return
        if self.error is not None:
            raise self.error
        self.queue.put((fn, args))

    def _run(self) -> None:
        assert self.queue is not None
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    item[0](*item[1])
                except BaseException as exc:  # noqa: BLE001 - handed to the importer
                    self.error = exc

    def finish(self) -> None:
        """Wait until everything handed over is staged."""
        if self.queue is not None:
            self.queue.put(None)
            self.thread.join()
            self.queue = None
            if self.error is not None:
                raise self.error

    def abort(self) -> None:
        """Stop staging (the import failed or was interrupted): cancel the running
        statement, drop what waits."""
        if self.queue is None:
            return
        self.error = self.error or RuntimeError("import abandoned")
        with suppress(Exception):
            self.stage.raw.cancel_safe(timeout=5)
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.queue.put(None)
        self.thread.join(timeout=30)
        self.queue = None


def _read(backend: Any, lines: Iterable[bytes | str], stager: _Stager, report: ImportReport,
          jobs: PasswordJobs | None, progress: ProgressFn | None,
          position: Callable[[], int | None], size: int | None) -> None:
    """Validate block by block (``validate``, on every core for a long file); the rows of
    each block go to the staging tables in the file's order."""
    errors = report.errors
    stage = stager.stage
    lineno = told = 0
    with closing(validated(backend.digester, stage.iso_dates, lines)) as blocks:
        for block in blocks:
            if block.error_count and not report.error_count:
                stager(stage.refused, lineno + 1)
            for kind, rows in block.rows.items():
                if rows:
                    # customers whose password hashes come later wait for the final merge
                    stager(stage.add, kind, rows, kind == "customer" and bool(block.passwords))
            if block.error_count:
                report.error_count += block.error_count
                errors.extend(block.errors[:MAX_ERRORS - len(errors)])
            if jobs is not None and not report.error_count:
                for number, password in block.passwords:
                    jobs.add(number, password)
            lineno = block.last
            if progress and lineno - told >= PROGRESS_EVERY:
                told = lineno
                progress(Progress("reading", position() or 0, size, lineno))
    report.lines = lineno
    if progress:
        progress(Progress("reading", position() or size or 0, size, lineno))
