"""Staging tables for the back-office import (SQLite and PostgreSQL).

The importer streams validated rows into temporary tables of its own connection
(``executemany`` on SQLite, ``COPY`` via psycopg's ``cursor.copy`` on PostgreSQL), lets the
database check what spans lines (a key twice in the file, a reference to a record that is
neither in the file nor in the database) and finally merges each kind into its real table
with one set-based ``INSERT … SELECT … ON CONFLICT … DO UPDATE … WHERE <something changed>``.
Nothing of a file is held in Python memory, and the real tables are only written in one
transaction:

- PostgreSQL: everything (temporary tables ``ON COMMIT DROP``, ``COPY``, checks, merges,
  audit) runs in one transaction; a crash or ``kill -9`` of the client aborts it. Long runs
  of one kind are merged in chunks while the file is still read, so that the server's index
  work overlaps the client's validation (``PostgresStaging``); a refused file rolls them
  back with everything else.
- SQLite: the temporary tables live in the connection's own temp database, so filling them
  takes no lock on the main database (the portal keeps writing while a file is read). The
  merge then runs in one ``BEGIN IMMEDIATE`` transaction, in chunks of rows so that a long
  write shows progress; WAL recovery drops an interrupted transaction.

Only SQL lives here; validation, hashing and messages belong to ``services.importer``.
"""

# Every table and column name in this module's SQL is one of its own constants; values are
# always parameters.
# ruff: noqa: S608

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Table

from db.models import ActivationCode, Contract, Customer, LicenceKey, Membership, Product

# Staged columns per kind, in the order the importer hands over its tuples (``line`` first).
CUSTOMER_COLUMNS = (
    "number", "type", "company", "salutation", "first_name", "last_name", "birth_date",
    "street", "postal_code", "city", "country", "phone", "mobile", "email", "iban", "bic",
    "search_name",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": CUSTOMER_COLUMNS,
    "product": ("sku", "name", "kind", "access_url"),
    "activation_code": ("number", "code_digest", "valid_until"),
    "contract": ("number", "customer_number", "abo_number", "product", "valid_from",
                 "valid_to", "status"),
    "licence_key": ("key_digest", "sku", "valid_until"),
    "membership": ("number", "email_key", "role"),
}
DATES = {"birth_date", "valid_until", "valid_from", "valid_to"}
# What may appear only once in a file, per kind.
UNIQUE: dict[str, tuple[str, ...]] = {
    "customer": ("number",), "product": ("sku",), "activation_code": ("number", "code_digest"),
    "contract": ("number",), "licence_key": ("key_digest",),
    "membership": ("number", "email_key"),
}
# kind -> (staged column, kind it refers to, that kind's key, real table)
REFERENCES: dict[str, tuple[str, str, str, Table]] = {
    "activation_code": ("number", "customer", "number", Customer.__table__),
    "contract": ("customer_number", "customer", "number", Customer.__table__),
    "membership": ("number", "customer", "number", Customer.__table__),
    "licence_key": ("sku", "product", "sku", Product.__table__),
}
ORDER = ("customer", "product", "activation_code", "contract", "licence_key", "membership")
TABLES: dict[str, Table] = {
    "customer": Customer.__table__, "product": Product.__table__,
    "activation_code": ActivationCode.__table__, "contract": Contract.__table__,
    "licence_key": LicenceKey.__table__, "membership": Membership.__table__,
}
SQLITE_CHUNK = 50_000  # rows per merge statement on SQLite (progress between them)


@dataclass(frozen=True)
class Merged:
    inserted: int
    updated: int
    unchanged: int


def _stage(kind: str) -> str:
    return f"import_stage_{kind}"


PASSWORDS = "import_stage_password"


class Staging:
    """Temporary tables of one import on one connection. Use :func:`open_staging`."""

    dialect = ""
    param = "?"
    iso_dates = False  # dates staged as datetime.date (else as ISO text)

    def __init__(self, connection: Connection, *, own_transaction: bool) -> None:
        self.connection = connection
        self.raw: Any = connection.connection.driver_connection
        self.own = own_transaction
        self.staged = dict.fromkeys(ORDER, 0)
        self.passwords = 0
        # the connection is used by one thread at a time (PostgreSQL stages from a thread)
        self.lock = threading.RLock()

    # -- subclass hooks
    def _create_sql(self, name: str, columns: Sequence[str], *, line: bool) -> str:
        raise NotImplementedError

    def _insert(self, name: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _ne(self, a: str, b: str) -> str:
        raise NotImplementedError

    # -- life cycle
    def create(self) -> None:
        self.drop()
        for kind in ORDER:
            self._exec(self._create_sql(_stage(kind), COLUMNS[kind], line=True))
        self._exec(self._create_sql(PASSWORDS, ("number", "password_hash"), line=False))

    def drop(self) -> None:
        for name in [_stage(k) for k in ORDER] + [PASSWORDS]:
            self._exec(f"DROP TABLE IF EXISTS {name}")

    def add(self, kind: str, rows: list[tuple[Any, ...]], hold: bool = False) -> None:
        """Stage ``rows`` (tuples: line, then :data:`COLUMNS` of the kind). ``hold``: the
        rows wait for something that comes later (customers' password hashes)."""
        if rows:
            with self.lock:
                self._insert(_stage(kind), ("line",) + COLUMNS[kind], rows)
                self.staged[kind] += len(rows)

    def add_passwords(self, rows: list[tuple[str, str]]) -> None:
        if rows:
            with self.lock:
                self._insert(PASSWORDS, ("number", "password_hash"), rows)
                self.passwords += len(rows)

    def refused(self, line: int) -> None:
        """The file will be refused (``line`` is the first line not yet staged): no more
        work on its rows than the checks need."""

    def allow_early(self, now: Any) -> None:
        """Merge while the file is read, where the database can (``now``: the timestamp)."""

    def existing_password_hashes(self, numbers: Sequence[str]) -> dict[str, str]:
        marks = ", ".join(self.param for _ in numbers)
        return dict(self._rows(
            f"SELECT number, password_hash FROM customer WHERE number IN ({marks}) "
            "AND password_hash IS NOT NULL", tuple(numbers)))

    def index(self) -> None:
        """Indexes for the checks and merges, built once the rows are in."""
        for kind in ORDER:
            if self.staged[kind]:
                self._index(_stage(kind), UNIQUE[kind] + ("line",))
        if self.passwords:
            self._index(PASSWORDS, ("number",))

    def _index(self, name: str, columns: Sequence[str]) -> None:
        self._exec(f"CREATE INDEX {self._index_name(name)} ON {name} ({', '.join(columns)})")

    def _index_name(self, name: str) -> str:
        return f"{name}_ix"

    # -- checks (rows for the caller to word)
    def duplicates(self, kind: str, limit: int) -> tuple[list[tuple[Any, ...]], int]:
        """``([(line, *key, first line), …] of the first ``limit``, total)``: lines whose
        key appeared on an earlier line of the file."""
        if not self.staged[kind]:
            return [], 0
        name, key = _stage(kind), UNIQUE[kind]
        any_dup = self._rows(
            f"SELECT 1 FROM {name} GROUP BY {', '.join(key)} HAVING count(*) > 1 LIMIT 1")
        if not any_dup:
            return [], 0
        cols = ", ".join(key)
        where = (f"FROM (SELECT line, {cols}, min(line) OVER (PARTITION BY {cols}) AS first "
                 f"FROM {name}) s WHERE s.line > s.first")
        rows = self._rows(f"SELECT s.line, {', '.join('s.' + c for c in key)}, s.first "
                          f"{where} ORDER BY s.line LIMIT {int(limit)}")
        total = self._rows(f"SELECT count(*) {where}")[0][0]
        return rows, total

    def missing(self, kind: str, limit: int) -> tuple[list[tuple[Any, ...]], int]:
        """``([(line, value), …], total)``: references found neither in the file nor in the
        database."""
        if kind not in REFERENCES or not self.staged[kind]:
            return [], 0
        column, target, key, table = REFERENCES[kind]
        where = (f"FROM {_stage(kind)} s WHERE {self._checked_from(kind)} AND NOT EXISTS "
                 f"(SELECT 1 FROM {_stage(target)} x WHERE x.{key} = s.{column}) AND NOT EXISTS "
                 f"(SELECT 1 FROM {table.name} r WHERE r.{key} = s.{column})")
        rows = self._rows(f"SELECT s.line, s.{column} {where} ORDER BY s.line LIMIT {int(limit)}")
        if not rows:
            return [], 0
        return rows, self._rows(f"SELECT count(*) {where}")[0][0]

    def _checked_from(self, kind: str) -> str:
        """The rows of ``kind`` whose references are still to be checked (SQL)."""
        return "true"

    # -- merge
    def merge(self, kind: str, now: Any, progress: Callable[[int], None] | None = None
              ) -> Merged:
        raise NotImplementedError

    def _merge_sql(self, kind: str, where: str, returning: str = "",
                   source: str | None = None) -> tuple[str, int]:
        """The ``INSERT … SELECT … ON CONFLICT`` of one kind (from its staging table or
        ``source``); its number of timestamp parameters (``now``) comes second."""
        p = self.param
        s = source or _stage(kind)
        if kind == "customer":
            cols = CUSTOMER_COLUMNS
            pw_col, pw_join = "NULL", ""
            if self.passwords:
                pw_col = "pw.password_hash"
                pw_join = f" LEFT JOIN {PASSWORDS} pw ON pw.number = s.number"
            changed = [self._ne(f"customer.{c}", f"excluded.{c}") for c in cols[1:]]
            changed.append("(excluded.password_hash IS NOT NULL AND "
                           + self._ne("customer.password_hash", "excluded.password_hash") + ")")
            sets = [f"{c} = excluded.{c}" for c in cols[1:]]
            sets += ["password_hash = coalesce(excluded.password_hash, customer.password_hash)",
                     "updated_at = excluded.updated_at"]
            sql = (f"INSERT INTO customer ({', '.join(cols)}, password_hash, created_at, "
                   f"updated_at) SELECT {', '.join('s.' + c for c in cols)}, {pw_col}, {p}, {p} "
                   f"FROM {s} s{pw_join} WHERE {where} ON CONFLICT (number) DO UPDATE SET "
                   f"{', '.join(sets)} WHERE {' OR '.join(changed)}")
            return sql + returning, 2
        spec = {
            # kind: (table, insert columns, select list, joins, conflict, updated columns)
            "product": ("product", "sku, name, kind, access_url, withdrawn",
                        "s.sku, s.name, s.kind, s.access_url, false", "", "sku",
                        ("name", "kind", "access_url")),
            "activation_code": (
                "activation_code", "customer_id, code_digest, valid_until, created_at",
                f"c.id, s.code_digest, s.valid_until, {p}",
                " JOIN customer c ON c.number = s.number", "customer_id, code_digest",
                ("valid_until",)),
            "contract": (
                "contract", "number, customer_id, abo_number, product, valid_from, valid_to, "
                "status", "s.number, c.id, s.abo_number, s.product, s.valid_from, s.valid_to, "
                "s.status", " JOIN customer c ON c.number = s.customer_number", "number",
                ("customer_id", "abo_number", "product", "valid_from", "valid_to", "status")),
            # redeemed_by / redeemed_at / customer_id are never touched: no un-redeeming
            "licence_key": ("licence_key", "key_digest, product_id, valid_until",
                            "s.key_digest, pr.id, s.valid_until",
                            " JOIN product pr ON pr.sku = s.sku", "key_digest",
                            ("product_id", "valid_until")),
            # a re-import changes the role only; state and account belong to the portal
            "membership": (
                "membership", "customer_id, email_key, role, account_id, state, created_at",
                "c.id, s.email_key, s.role, a.id, CASE WHEN a.id IS NULL THEN 'approved' "
                f"ELSE 'active' END, {p}",
                " JOIN customer c ON c.number = s.number "
                "LEFT JOIN account a ON a.email_key = s.email_key",
                "customer_id, email_key", ("role",)),
        }
        table, insert_cols, select, joins, conflict, update = spec[kind]
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        changed = " OR ".join(self._ne(f"{table}.{c}", f"excluded.{c}") for c in update)
        sql = (f"INSERT INTO {table} ({insert_cols}) SELECT {select} FROM {s} s{joins} "
               f"WHERE {where} ON CONFLICT ({conflict}) DO UPDATE SET {sets} WHERE {changed}")
        return sql + returning, select.count(p)

    # -- transactions
    def begin_write(self) -> None:
        """Start the transaction the real tables are written in."""

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Drop the staging tables (after commit or rollback)."""

    # -- helpers
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.raw.cursor()
        try:
            with self.lock:
                cur.execute(sql, params)
        except BaseException:
            # Ctrl+C in the middle of a statement: the statement must not stay active, or
            # the cleanup's DROP of the staging tables fails ("database table is locked")
            # and hides the interruption
            cur.close()
            raise
        return cur

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            cur = self._exec(sql, params)  # through _exec: PostgreSQL ends a running COPY first
            try:
                return [tuple(r) for r in cur.fetchall()]
            finally:
                cur.close()


class SQLiteStaging(Staging):
    dialect = "sqlite"
    iso_dates = True  # dates staged as SQLAlchemy stores them: 'YYYY-MM-DD' text

    def __init__(self, connection: Connection, *, own_transaction: bool) -> None:
        super().__init__(connection, own_transaction=own_transaction)
        self._saved_isolation = self.raw.isolation_level
        if self.own:
            # explicit transactions: the temp tables in one, the real tables in another
            self.raw.isolation_level = None
            self.raw.execute("PRAGMA temp.cache_size = -65536")
            self.raw.execute("PRAGMA main.cache_size = -65536")
            self.raw.execute("BEGIN")

    def _create_sql(self, name: str, columns: Sequence[str], *, line: bool) -> str:
        key = "line INTEGER PRIMARY KEY, " if line else "number TEXT PRIMARY KEY, "
        rest = [c for c in columns if not (c == "number" and not line)]
        return f"CREATE TEMP TABLE {name} ({key}{', '.join(c + ' TEXT' for c in rest)})"

    def _insert(self, name: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        verb = "INSERT OR REPLACE" if name == PASSWORDS else "INSERT"
        marks = ", ".join("?" for _ in columns)
        self.raw.executemany(f"{verb} INTO temp.{name} ({', '.join(columns)}) VALUES ({marks})",
                             rows)

    def _index(self, name: str, columns: Sequence[str]) -> None:
        if name == PASSWORDS:
            return  # its primary key is the number
        self._exec(f"CREATE INDEX temp.{name}_ix ON {name} ({', '.join(columns)})")

    def _ne(self, a: str, b: str) -> str:
        return f"{a} IS NOT {b}"

    def begin_write(self) -> None:
        if self.own:
            self.raw.execute("COMMIT")  # the temp tables: nothing of the main database
            self.raw.execute("BEGIN IMMEDIATE")

    def merge(self, kind: str, now: Any, progress: Callable[[int], None] | None = None
              ) -> Merged:
        table = TABLES[kind]
        total = self.staged[kind]
        before = self._rows(f"SELECT count(*) FROM {table.name}")[0][0]
        sql, n_now = self._merge_sql(kind, "s.line > ? AND s.line <= ?")
        stage = _stage(kind)
        changed = done = 0
        last = 0
        while done < total:
            bound = self._rows(f"SELECT line FROM {stage} WHERE line > ? ORDER BY line "
                               f"LIMIT 1 OFFSET {SQLITE_CHUNK - 1}", (last,))
            upper = bound[0][0] if bound else 1 << 62
            cur = self.raw.execute(sql, (*(now,) * n_now, last, upper))
            changed += cur.rowcount
            done = min(total, done + SQLITE_CHUNK)
            last = upper
            if progress:
                progress(done)
        inserted = self._rows(f"SELECT count(*) FROM {table.name}")[0][0] - before
        return Merged(inserted, changed - inserted, total - changed)

    def commit(self) -> None:
        if self.own:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.own and self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        try:
            if self.own and self.raw.in_transaction:
                self.raw.execute("ROLLBACK")
            self.drop()
        finally:
            if self.own:
                self.raw.isolation_level = self._saved_isolation
                self.raw.execute("PRAGMA temp.cache_size = -2000")
                self.raw.execute("PRAGMA main.cache_size = -2000")


def _chunk(kind: str) -> str:
    return f"import_chunk_{kind}"


class PostgresStaging(Staging):
    """COPY into temporary tables; long runs of one kind are merged while the file is read.

    The raw COPY of a file keeps the server busy (indexes, foreign keys) while the client
    parses; a merge after the whole file is read would do that same work alone. So rows of
    one kind are copied into a chunk table, and every ``EARLY`` rows (:meth:`allow_early`)
    the chunk is moved to the staging table and merged into the real table in the import's
    one transaction, while the importer validates the next lines (it stages from a thread of
    its own). A chunk whose references are not all in the database yet (codes before their
    customers), a chunk of customers with passwords (their hashes come later), a chunk with a
    key twice (the merge refuses it; savepoint) or any refused line stops the early merges
    of that kind for good: from that chunk's first line on, the kind is merged after the
    checks, as before. The checks run over the whole staging tables either way, and a
    refused file rolls back what was merged early with everything else.
    """

    dialect = "postgresql"
    param = "%s"
    EARLY = 50_000  # rows of one kind per early merge

    def _create_sql(self, name: str, columns: Sequence[str], *, line: bool) -> str:
        cols = (["line integer"] if line else []) + [
            f"{c} {'date' if c in DATES else 'text'}" for c in columns]
        return f"CREATE TEMP TABLE {name} ({', '.join(cols)}) ON COMMIT DROP"

    def __init__(self, connection: Connection, *, own_transaction: bool) -> None:
        super().__init__(connection, own_transaction=own_transaction)
        # One COPY stays open while a file keeps to one kind (the usual export: all customers,
        # then all codes); its rows are sent by a writer thread while the next lines are
        # validated, and the server stores them meanwhile.
        self._copy: tuple[str, Any, Any, Any] | None = None
        self._now: Any = None  # set by allow_early
        self._pending = dict.fromkeys(ORDER, 0)  # rows in the chunk table
        self._pending_from = dict.fromkeys(ORDER, 0)  # first line in the chunk table
        self._late_from: dict[str, int | None] = dict.fromkeys(ORDER, None)
        self._early = dict.fromkeys(ORDER, (0, 0))  # (inserted, changed) by early merges
        self._exec("SET LOCAL work_mem = '64MB'")  # hash joins of the checks and merges

    def create(self) -> None:
        super().create()
        for kind in ORDER:
            self._exec(self._create_sql(_chunk(kind), COLUMNS[kind], line=True))

    def drop(self) -> None:
        super().drop()
        for kind in ORDER:
            self._exec(f"DROP TABLE IF EXISTS {_chunk(kind)}")

    # -- early merges
    def allow_early(self, now: Any) -> None:
        """Merge long runs of a kind while the file is read (``now``: the timestamp)."""
        self._now = now

    def add(self, kind: str, rows: list[tuple[Any, ...]], hold: bool = False) -> None:
        if not rows:
            return
        with self.lock:
            if self._now is None or self._late_from[kind] is not None:
                super().add(kind, rows)
                return
            if hold:
                self._stop_early(kind, rows[0][0])
                super().add(kind, rows)
                return
            if not self._pending[kind]:
                self._pending_from[kind] = rows[0][0]
            self._insert(_chunk(kind), ("line",) + COLUMNS[kind], rows)
            self.staged[kind] += len(rows)
            self._pending[kind] += len(rows)
            if self._pending[kind] >= self.EARLY:
                self._merge_chunk(kind)

    def refused(self, line: int) -> None:
        with self.lock:
            for kind in ORDER:
                if self._late_from[kind] is None:
                    self._stop_early(kind, line)

    def _stop_early(self, kind: str, line: int) -> None:
        """From ``line`` on (or the chunk's first line), ``kind`` is merged after the
        checks."""
        if self._pending[kind]:
            line = self._pending_from[kind]
            self._move_chunk(kind)
        self._late_from[kind] = line

    def _move_chunk(self, kind: str, merged: bool = False) -> None:
        # a merged chunk leaves only what the checks read (its keys and line numbers)
        cols = ", ".join(("line",) + (UNIQUE[kind] if merged else COLUMNS[kind]))
        self._exec(f"INSERT INTO {_stage(kind)} ({cols}) SELECT {cols} FROM {_chunk(kind)}")
        self._exec(f"TRUNCATE {_chunk(kind)}")
        self._pending[kind] = 0

    def _checked_from(self, kind: str) -> str:
        # an early merge found every reference of its rows in the database
        if self._now is None:
            return "true"
        late = self._late_from[kind]
        return "false" if late is None else f"s.line >= {int(late)}"

    def _merge_chunk(self, kind: str) -> None:
        if kind in REFERENCES:
            column, target, key, table = REFERENCES[kind]
            if self._pending[target] and self._late_from[target] is None:
                self._merge_chunk(target)  # what this chunk refers to goes first
            unresolved = self._rows(
                f"SELECT 1 FROM {_chunk(kind)} s WHERE NOT EXISTS (SELECT 1 FROM {table.name} "
                f"r WHERE r.{key} = s.{column}) LIMIT 1")
            if unresolved:
                self._stop_early(kind, 0)
                return
        sql, n_now = self._counted_merge(kind, _chunk(kind))
        self._exec("SAVEPOINT import_chunk")
        # The planner's figures for the real tables are those from before the import (the
        # rows merged so far are invisible to ANALYZE in other sessions): it would join a
        # chunk by reading all of ``customer`` into a hash, once per chunk. Index lookups.
        self._exec("SET LOCAL enable_hashjoin = off")
        self._exec("SET LOCAL enable_mergejoin = off")
        try:
            inserted, changed = self._rows(sql, (self._now,) * n_now)[0]
        except psycopg.errors.CardinalityViolation:  # a key twice in the chunk
            self._exec("ROLLBACK TO SAVEPOINT import_chunk")
            self._stop_early(kind, 0)
            return
        self._exec("RELEASE SAVEPOINT import_chunk")
        self._exec("RESET enable_hashjoin")
        self._exec("RESET enable_mergejoin")
        before = self._early[kind]
        self._early[kind] = (before[0] + inserted, before[1] + changed)
        self._move_chunk(kind, merged=True)

    def _counted_merge(self, kind: str, source: str | None = None,
                       where: str = "true") -> tuple[str, int]:
        sql, n_now = self._merge_sql(kind, where, " RETURNING (xmax = 0) AS inserted", source)
        return (f"WITH merged AS ({sql}) SELECT count(*) FILTER (WHERE inserted), count(*) "
                "FROM merged"), n_now

    # -- COPY
    def _insert(self, name: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if self._copy is None or self._copy[0] != name:
            self._end_copy()
            from psycopg.copy import QueuedLibpqWriter

            cur = self.raw.cursor()
            manager = cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN",
                               writer=QueuedLibpqWriter(cur))
            self._copy = (name, cur, manager, manager.__enter__())
        write = self._copy[3].write_row
        for row in rows:
            write(row)

    def _end_copy(self, exc: BaseException | None = None) -> None:
        if self._copy is not None:
            _, cur, manager, _ = self._copy
            self._copy = None
            try:
                manager.__exit__(type(exc) if exc else None, exc, None)
            finally:
                cur.close()

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.lock:
            self._end_copy()
            return super()._exec(sql, params)

    def index(self) -> None:
        # no indexes: hash joins over the analysed staging tables beat building them
        with self.lock:
            for kind in ORDER:  # the last chunks: merged like the others, or moved
                if self._pending[kind]:
                    self._merge_chunk(kind)
            self._end_copy()
            for kind in ORDER:
                if self.staged[kind]:
                    self._exec(f"ANALYZE {_stage(kind)}")  # autovacuum never sees temp tables
            if self.passwords:
                self._exec(f"ANALYZE {PASSWORDS}")

    def _ne(self, a: str, b: str) -> str:
        return f"{a} IS DISTINCT FROM {b}"

    def merge(self, kind: str, now: Any, progress: Callable[[int], None] | None = None
              ) -> Merged:
        inserted, changed = self._early[kind]
        late = self._late_from[kind]
        if late is not None or self._now is None:
            sql, n_now = self._counted_merge(kind, where="s.line >= %s")
            more, more_changed = self._rows(sql, (*(now,) * n_now, late or 0))[0]
            inserted, changed = inserted + more, changed + more_changed
        if progress:
            progress(self.staged[kind])
        return Merged(inserted, changed - inserted, self.staged[kind] - changed)

    def commit(self) -> None:
        if self.own:
            self.connection.commit()

    def rollback(self) -> None:
        if self._copy is not None:
            try:
                self._end_copy(RuntimeError("import abandoned"))
            except Exception:  # noqa: BLE001, S110 - the COPY is abandoned on purpose
                pass
        if self.own:
            self.connection.rollback()

    def close(self) -> None:
        if not self.own:
            self.drop()


def open_staging(connection: Connection, *, own_transaction: bool) -> Staging:
    """The staging tables for ``connection``'s database. ``own_transaction``: the import
    controls the transactions (else it runs inside the caller's)."""
    name = connection.dialect.name
    if name == "sqlite":
        return SQLiteStaging(connection, own_transaction=own_transaction)
    if name == "postgresql":
        return PostgresStaging(connection, own_transaction=own_transaction)
    raise RuntimeError(f"bulk import is not available for {name}")  # pragma: no cover


def bind_value(connection: Connection, table: Table, column: str, value: Any) -> Any:
    """``value`` as the driver receives it for ``table.column`` (SQLite stores timestamps as
    text in SQLAlchemy's format)."""
    dialect = connection.dialect
    type_ = table.c[column].type
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value
