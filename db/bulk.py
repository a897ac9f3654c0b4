"""Dialect-specific bulk upserts (SQLite and PostgreSQL) for the back-office importer.

``INSERT … ON CONFLICT (…) DO UPDATE`` executed as one ``executemany`` per chunk of plain
dictionaries: no ORM objects, no per-row round trip through the unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Table, TypeDecorator, func, select
from sqlalchemy.dialects import postgresql, sqlite

CHUNK = 5000


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def upsert_statement(
    connection: Connection,
    table: Table,
    conflict: Sequence[str],
    update: Sequence[str],
    *,
    keep_when_null: Sequence[str] = (),
):  # type: ignore[no-untyped-def]
    """``INSERT … ON CONFLICT (conflict) DO UPDATE SET col = excluded.col`` for ``update``.

    Columns in ``keep_when_null`` keep their stored value when the new one is NULL
    (``COALESCE(excluded.col, table.col)``); columns in neither list are never overwritten.
    """
    name = connection.dialect.name
    if name == "sqlite":
        stmt = sqlite.insert(table)
    elif name == "postgresql":
        stmt = postgresql.insert(table)
    else:  # pragma: no cover - make_engine refuses other databases
        raise RuntimeError(f"bulk upsert is not available for {name}")
    values: dict[str, Any] = {col: stmt.excluded[col] for col in update}
    for col in keep_when_null:
        values[col] = func.coalesce(stmt.excluded[col], table.c[col])
    if not values:
        return stmt.on_conflict_do_nothing(index_elements=list(conflict))
    return stmt.on_conflict_do_update(index_elements=list(conflict), set_=values)


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str],
    update: Sequence[str],
    *,
    keep_when_null: Sequence[str] = (),
    constants: dict[str, Any] | None = None,
    chunk: int = CHUNK,
) -> None:
    """Upsert ``rows`` (dicts with identical keys) in chunks of ``chunk`` via executemany.

    ``constants`` are columns with the same value in every row (timestamps). On SQLite the
    rows' date and timestamp values are converted in place (the dicts are consumed).
    """
    if not rows:
        return
    constants = constants or {}
    stmt = upsert_statement(connection, table, conflict, update, keep_when_null=keep_when_null)
    if connection.dialect.name != "sqlite":
        for part in chunks(rows, chunk):
            connection.execute(stmt, [row | constants for row in part])
        return
    # SQLite: compile once, convert values with the columns' own bind processors (memoised
    # for dates and timestamps, which repeat), and hand plain tuples to executemany.
    keys = list(rows[0]) + [k for k in constants if k not in rows[0]]
    dialect = connection.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup or [])
    if sorted(order) != sorted(keys):  # pragma: no cover - defensive: fall back to Core
        for part in chunks(rows, chunk):
            connection.execute(stmt, [row | constants for row in part])
        return

    def converter(name: str) -> Any:
        type_ = table.c[name].type
        return _converter(type_.dialect_impl(dialect).bind_processor(dialect), type_)

    fixed = {k: (conv(v) if (conv := converter(k)) else v) for k, v in constants.items()}
    converted = [(name, conv) for name in order
                 if name not in fixed and (conv := converter(name))]
    getter = itemgetter(*order)
    single = len(order) == 1
    sql = str(compiled)
    for part in chunks(rows, chunk):
        for row in part:
            row.update(fixed)
        for name, conv in converted:
            for row in part:
                row[name] = conv(row[name])
        params = [(getter(row),) for row in part] if single else [getter(row) for row in part]
        connection.exec_driver_sql(sql, params)


def _converter(process: Any, type_: Any) -> Any:
    """The bind processor of a column, memoised per value for dates and timestamps."""
    if process is None:
        return None
    if not isinstance(type_, Date | DateTime | TypeDecorator):
        return process
    cache: dict[Any, Any] = {None: None}

    def convert(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            result = cache[value] = process(value)
            return result

    return convert


def id_map(
    connection: Connection, table: Table, key: str, values: Iterable[str], chunk: int = CHUNK
) -> dict[str, int]:
    """``{key value: id}`` for the given values, one ``IN`` query per chunk."""
    wanted = sorted(set(values))
    result: dict[str, int] = {}
    column = table.c[key]
    for part in chunks(wanted, chunk):
        for value, ident in connection.execute(
            select(column, table.c.id).where(column.in_(part))
        ):
            result[value] = ident
    return result


def existing(
    connection: Connection, table: Table, key: str, values: Iterable[str], chunk: int = CHUNK
) -> set[str]:
    """The subset of ``values`` present in ``table.key``."""
    return set(id_map(connection, table, key, values, chunk))
