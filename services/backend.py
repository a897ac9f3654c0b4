"""The backend: settings, database, secret key, hasher and clock, shared by every service.

Front ends (the TUI, the CLI, tests) create one ``Backend`` and pass it to service functions.
``backend.transaction()`` is the unit of work: one database transaction that commits on
success and rolls back on any error, so nothing is ever half-written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.engine import DatabaseConfigError, make_engine, make_sessionmaker
from db.migrate import is_current, upgrade
from services.caller import Caller
from services.config import Settings, load_settings
from services.crypto import Digester, PasswordHasher, load_or_create_secret_key
from services.errors import N_, StorageUnavailable

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Backend:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        database_url: str | None = None,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        url = database_url or self.settings.resolved_database_url
        self.database_url = url
        if url.startswith("sqlite") and not self.settings.database_url and not database_url:
            self.settings.home.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.clock: Clock = clock or utcnow
        self._digester: Digester | None = None
        self.hasher = hasher or PasswordHasher(
            memory_kib=self.settings.argon2_memory_kib,
            time_cost=self.settings.argon2_time_cost,
            parallelism=self.settings.argon2_parallelism,
        )

    # -- lazily loaded, so that `kiosk --help` never touches the disk
    @property
    def digester(self) -> Digester:
        if self._digester is None:
            key = load_or_create_secret_key(
                self.settings.resolved_secret_key_file, self.settings.secret_key
            )
            self._digester = Digester(key)
        return self._digester

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def now(self) -> dt.datetime:
        return self.clock()

    def ensure_schema(self) -> None:
        """Create or migrate the schema (embedded databases upgrade on first start)."""
        try:
            if not is_current(self.engine):
                upgrade(self.engine)
        except OperationalError as exc:
            raise StorageUnavailable(
                N_("The database {database} cannot be reached or written."),
                params={"database": self.engine.url.render_as_string(hide_password=True)},
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error.

        SQLite waits up to its busy timeout for the write lock; a database that cannot be
        reached or written becomes one ``StorageUnavailable`` with a clear message.
        """
        session = self.sessions()
        try:
            with session.begin():
                yield session
        except OperationalError as exc:
            raise StorageUnavailable(N_("The database cannot be reached or written.")) from exc
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Backend", "Caller", "DatabaseConfigError", "utcnow"]
