"""Back-office import: JSON Lines of customers, codes, contracts, products, keys, memberships.

Design (issue 14: any size in constant memory, all or nothing)
--------------------------------------------------------------
1. **Read and validate, streaming.** Each line is validated on its own (pydantic, a
   discriminated union on ``kind``; ``lines``) and its row goes, in batches of a few thousand,
   into a temporary staging table of the import's own connection (``db.staging``:
   ``executemany`` on SQLite, ``COPY`` on PostgreSQL). Python keeps nothing per line except
   the first 100 errors and their total, so memory does not grow with the file. Codes and
   keys are turned into keyed digests (HMAC) right there. A long file is validated on every
   core: blocks of lines go to a pool of worker processes and come back, in the file's order,
   to the main process, which reads and stages (``validate``). Customer passwords are hashed
   with argon2id by a process pool while the file is read (``hashing``), and only while no
   line has been refused.
2. **Check what spans lines in the database.** A key twice in the file (two customers with
   one number, …) and references to records neither in the file nor in the database are
   found with indexed queries over the staging tables, reported with line numbers.
3. **Merge in one transaction.** If every line is valid, each kind is merged into its table
   with one set-based ``INSERT … SELECT … ON CONFLICT … DO UPDATE … WHERE <a column
   changed>``; rows whose values are equal are not touched, which is how a re-import reports
   them as *unchanged* (and keeps ``updated_at``). The audit event is written in the same
   transaction. A refused file, ``--dry-run``, Ctrl+C or ``kill -9`` leave the database as it
   was: the real tables are written only in that one transaction (on SQLite, filling the
   staging tables takes no lock on the main database; the merge holds its write lock). On
   PostgreSQL, whose import is one transaction from the first line on, long runs of one
   kind are merged in chunks of 50,000 rows while the file is still read (from a staging
   thread, so that the server's index work overlaps the validation); the checks still cover
   the whole file, and a refused file rolls the early merges back with the rest.

Public API::

    import_file(backend, path_or_dash, *, dry_run=False, progress=None) -> ImportReport
    import_lines(backend, lines, *, dry_run=False, progress=None, session=None) -> ImportReport
    validate_lines(backend, lines) -> ImportReport      # a dry run: checks, writes nothing
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from services.importer.lines import KINDS
from services.importer.report import MAX_ERRORS, ImportReport, KindChanges, LineError, plural
from services.importer.run import ImportFailed, Progress, ProgressFn, run_import
from services.importer.source import SourceError, open_source


def import_lines(
    backend: Any,
    lines: Iterable[str | bytes],
    *,
    source: str | None = None,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
    session: Session | None = None,
) -> ImportReport:
    """Validate all lines; when all are valid write them in one transaction (the caller's
    ``session``, if given)."""
    return run_import(backend, lines, dry_run=dry_run, progress=progress, source=source,
                      session=session)


def import_file(
    backend: Any, path: str | Path, *, dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import a JSON Lines file, or standard input for ``-`` (UTF-8, a byte order mark is
    ignored, CRLF is fine, gzip-compressed input is recognised by its first bytes).

    Lines are handed to the validator as bytes, so a line that is not UTF-8 is reported
    with its number like any other malformed line.
    """
    with open_source(path) as src:
        return run_import(backend, src.lines, dry_run=dry_run, progress=progress,
                          source=src.name, position=src.position, size=src.size)


def validate_lines(backend: Any, lines: Iterable[str | bytes]) -> ImportReport:
    """Check every line and every reference; nothing is written."""
    return run_import(backend, lines, dry_run=True)


__all__ = [
    "KINDS", "MAX_ERRORS", "ImportFailed", "ImportReport", "KindChanges", "LineError", "Progress", "ProgressFn",
    "SourceError", "import_file", "plural", "import_lines", "validate_lines",
]
