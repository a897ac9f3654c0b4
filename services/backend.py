"""The backend: settings, database, secret key, hasher and clock, shared by every service.

Front ends (the TUI, the CLI, tests) create one ``Backend`` and pass it to service functions.
``backend.transaction()`` is the unit of work: one database transaction that commits on
success and rolls back on any error, so nothing is ever half-written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError, DataError, IntegrityError
from sqlalchemy.orm import Session

from db.engine import DatabaseConfigError, make_engine, make_sessionmaker
from db.migrate import is_current, upgrade
from services.caller import Caller
from services.config import Settings, load_settings
from services.crypto import Digester, PasswordHasher, load_or_create_secret_key
from services.errors import N_, StorageUnavailable

log = logging.getLogger("kundenkiosk.backend")
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


MSG_UNREACHABLE = N_("The database cannot be reached or written.")
MSG_UNREACHABLE_NAMED = N_("The database {database} cannot be reached or written.")
MSG_DAMAGED = N_("The database file is damaged or is not a database; ask the staff for help.")
MSG_DAMAGED_NAMED = N_(
    "The database {database} is damaged or is not a database; ask the staff for help "
    "(they restore it from a backup).")


def storage_error(exc: DatabaseError, database: str | None = None) -> StorageUnavailable:
    """One sentence for a database error: an outage, or a file that is not a database.

    Raised ``from None`` by the callers: the driver's message (and its SQL parameters) stays
    out of every traceback and log line that shows the domain error.
    """
    reason = str(getattr(exc, "orig", exc))
    damaged = type(exc) is DatabaseError or any(
        sign in reason for sign in ("not a database", "malformed", "file is encrypted"))
    log.debug("database error (%s): %s", type(exc).__name__,
                "damaged file" if damaged else "unreachable or not writable")
    params = {"database": database} if database else {}
    if damaged:
        return StorageUnavailable(MSG_DAMAGED_NAMED if database else MSG_DAMAGED, params=params)
    return StorageUnavailable(MSG_UNREACHABLE_NAMED if database else MSG_UNREACHABLE,
                              params=params)


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
        except DatabaseError as exc:  # OperationalError, and a file that is not a database
            raise storage_error(exc, self.engine.url.render_as_string(hide_password=True)) from None

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
        except (IntegrityError, DataError):
            raise  # the services' own race guards and bugs in input checks, not an outage
        except DatabaseError as exc:  # OperationalError, and a file that is not a database
            raise storage_error(exc) from None
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Backend", "Caller", "DatabaseConfigError", "utcnow"]
