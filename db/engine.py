"""Engine and session factory for SQLite (embedded) and PostgreSQL (shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from db.errors import DatabaseConfigError


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(f"The database URL {url!r} is not valid.") from exc
    if parsed.drivername.startswith("postgresql") and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            directory = Path(database).expanduser().resolve().parent
            if not directory.is_dir():
                raise DatabaseConfigError(f"The database directory {directory} does not exist.")
        # hide_parameters: no typed value (a code, a name) in an error message or a log line
        engine = create_engine(parsed, echo=echo, hide_parameters=True,
                               connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseConfigError(
            f"The database {parsed.get_backend_name()!r} is not supported (SQLite or PostgreSQL)."
        )
    return create_engine(
        parsed, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=5, max_overflow=10,
        connect_args={"connect_timeout": 5},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def for_update(query: Select, session: Session) -> Select:  # type: ignore[type-arg]
    """``query`` with a row lock (``SELECT … FOR UPDATE``) where the database has row locks
    (PostgreSQL); SQLite holds one write lock per database, so the query stays as it is."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update()
    return query


def lock_rows(session: Session, model: Any, *where: Any, query: Select | None = None
              ) -> Select:  # type: ignore[type-arg]
    """Lock the rows of ``model`` that match ``where`` until the transaction ends, and return
    the query that reads them (``query``, or their ids in id order), with
    ``populate_existing`` so that what it loads is what is locked.

    PostgreSQL: the returned query carries ``FOR UPDATE OF`` the model's table, so the lock
    and the read are one statement. SQLite has no row locks: a no-op write
    (``UPDATE … SET id = id``) takes the database's write lock first, so two transactions
    that lock the same rows run one after the other. The one place for both databases."""
    if query is None:
        query = select(model.id).where(*where).order_by(model.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=model)
    else:
        session.execute(update(model).where(*where).values(id=model.id)
                        .execution_options(synchronize_session=False))
    return query.execution_options(populate_existing=True)
