"""Shared fixtures: one ``backend`` fixture parametrised over SQLite and PostgreSQL.

PostgreSQL: ``KIOSK_TEST_POSTGRES_URL`` (default postgresql://postgres@127.0.0.1:5432/test).
Each pytest-xdist worker gets its own database. Without a server the PostgreSQL tests skip
with the reason shown; with CI=true they are mandatory and a missing server fails the run.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db.engine import make_engine
from db.migrate import upgrade
from db.models import metadata
from services.backend import Backend
from services.config import Settings
from services.crypto import PasswordHasher

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The minimum OWASP argon2id profile keeps the suite quick while staying realistic.
TEST_HASHER_PROFILE = dict(memory_kib=19 * 1024, time_cost=2, parallelism=1)


class TestClock:
    """A clock the tests move by hand (sessions, code expiry, throttling windows)."""

    __test__ = False

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A database of this test process alone (dropped at the end), so parallel runs and
    xdist workers never truncate each other's tables."""
    base = os.environ.get("KIOSK_TEST_POSTGRES_URL", DEFAULT_PG)
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://"):]
    name = f"kiosk_test_{_worker()}_{os.getpid()}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: no server here
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is mandatory in CI and did not answer at {base}: {exc}")
        pytest.skip(f"no PostgreSQL server at {base} ({type(exc).__name__})")
    url = base.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "kiosk.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


def make_settings(home: Path, **extra: object) -> Settings:
    # No answer-time floor (services/timing.py) unless a test asks for one: it only waits.
    extra.setdefault("response_floor_ms", 0)
    return Settings(home=home, terminal_id="test-terminal", **extra)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: TestClock) -> Backend:
    """The backend on each database: every service test runs on SQLite and PostgreSQL."""
    kind = request.param
    if kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    else:
        target = tmp_path / "kiosk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
    home = tmp_path / "home"
    home.mkdir()
    b = Backend(make_settings(home), database_url=url, clock=clock,
                hasher=PasswordHasher(**TEST_HASHER_PROFILE))
    yield b
    b.dispose()


@pytest.fixture
def sqlite_backend(tmp_path: Path, clock: TestClock, sqlite_template: Path) -> Backend:
    """SQLite only (UI tests, which need one database, not both)."""
    target = tmp_path / "kiosk.db"
    shutil.copy(sqlite_template, target)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    b = Backend(make_settings(home), database_url=f"sqlite:///{target}", clock=clock,
                hasher=PasswordHasher(**TEST_HASHER_PROFILE))
    yield b
    b.dispose()
