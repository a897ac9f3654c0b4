"""Races between PROCESSES (multiprocessing, spawn), on SQLite and PostgreSQL.

Twenty worker processes (each its own interpreter, engine and connections, like twenty
terminals) wait at one barrier and then do the same thing at once. Each race must end with
exactly one winner; every other worker gets a clear ``DomainError`` (the message a customer
would see), never a database error, a deadlock or "database is locked". The thread-based
races live beside each flow's own tests.

Contract, approval and merge races run the same way: add a worker function below
(``_contract_worker`` …) and a test next to ``test_process_race_*`` once the flows exist —
see ``PROCESS_RACES_TO_ADD``.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from welcome_helpers import make_customer

from db.models import (
    Account,
    ActivationCode,
    CustomerLink,
    LicenceKey,
    Product,
    Throttle,
)
from services import sessions, throttle
from services.backend import Backend
from services.caller import Caller
from services.config import Settings
from services.crypto import PasswordHasher, normalize_code, normalize_key
from services.errors import DomainError

WORKERS = 20
# Flows of other issues whose process races belong here too (#5, #7, #8).
PROCESS_RACES_TO_ADD = ("contract link", "membership approval", "merge pair")

CODE = "RACE-CODE-2026"
NUMBER = "K-777001"
KEY = "RACE-KEY7-ABCD-9XYZ"

# --------------------------------------------------------------------------- in the workers

_BACKENDS: dict[tuple[str, str], Backend] = {}


def _worker_backend(url: str, home: str) -> Backend:
    """One backend per worker process and database (engines are not shared across forks)."""
    key = (url, home)
    if key not in _BACKENDS:
        settings = Settings(home=Path(home), terminal_id="race")  # type: ignore[call-arg]
        _BACKENDS[key] = Backend(settings, database_url=url,
                                 hasher=PasswordHasher(memory_kib=19 * 1024, time_cost=2,
                                                       parallelism=1))
    return _BACKENDS[key]


def _warm_up() -> None:
    """Pay the imports once per worker, before any race starts."""
    import services.customer_numbers  # noqa: F401
    import services.products  # noqa: F401


def _outcome(fn: Callable[[], Any]) -> tuple[str, str, str]:
    """("ok", "", detail) | ("domain", class name, message) | ("crash", class name, text)."""
    try:
        return "ok", "", str(fn())
    except DomainError as exc:
        return "domain", type(exc).__name__, str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        return "crash", type(exc).__name__, repr(exc)[:500]


def _link_worker(url: str, home: str, barrier: Any, token: str, terminal: str,
                 code: str) -> tuple[str, str, str]:
    from services.customer_numbers import link_customer_number

    backend = _worker_backend(url, home)
    barrier.wait(timeout=60)
    return _outcome(lambda: link_customer_number(backend, token, code, NUMBER,
                                                 Caller(terminal_id=terminal)).number)


def _redeem_worker(url: str, home: str, barrier: Any, token: str,
                   terminal: str) -> tuple[str, str, str]:
    from services.products import redeem_key

    backend = _worker_backend(url, home)
    barrier.wait(timeout=60)
    return _outcome(lambda: redeem_key(backend, token, KEY, Caller(terminal_id=terminal)).sku)


def _fail_worker(url: str, home: str, barrier: Any) -> tuple[str, str, str]:
    backend = _worker_backend(url, home)
    policy = throttle.Policy(max_failures=1000)
    barrier.wait(timeout=60)

    def count() -> int:
        with backend.transaction() as db:
            return throttle.fail(db, "race", "account", "a1", policy, backend.now()).failures

    return _outcome(count)


# --------------------------------------------------------------------------- in the test


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[ProcessPoolExecutor, Any]]:
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context,
                             initializer=_warm_up) as executor:
        yield executor, manager
    manager.shutdown()


@pytest.fixture
def real_backend(backend: Backend) -> Backend:
    """The test database with the real clock (the workers use it too) and the secret key
    created before any worker needs it."""
    real = Backend(backend.settings, database_url=backend.database_url,
                   hasher=backend.hasher)
    real.digester  # noqa: B018 - writes the key file once
    yield real
    real.dispose()


def _race(pool: tuple[ProcessPoolExecutor, Any], fn: Callable[..., tuple[str, str, str]],
          backend: Backend, per_worker: list[tuple[Any, ...]]) -> list[tuple[str, str, str]]:
    executor, manager = pool
    barrier = manager.Barrier(len(per_worker))
    home = str(backend.settings.home)
    futures = [executor.submit(fn, backend.database_url, home, barrier, *args)
               for args in per_worker]
    results = [f.result(timeout=120) for f in futures]
    crashes = [r for r in results if r[0] == "crash"]
    assert not crashes, f"errors that would reach a customer as a traceback: {crashes}"
    for _kind, name, text in results:
        assert name != "StorageUnavailable", f"a database error reached a customer: {text}"
        assert "database is locked" not in text and "deadlock" not in text.lower(), text
    return results


def accounts_with_sessions(backend: Backend, count: int) -> list[str]:
    """``count`` active accounts, each with a fresh session (password entered just now)."""
    ids = []
    with backend.transaction() as db:
        for i in range(count):
            name = f"racer{i:02d}"
            account = Account(username=name, username_key=name, email=f"{name}@example.org",
                              email_key=f"{name}@example.org", status="active",
                              first_name="Racer", last_name=f"Nr{i}")
            db.add(account)
            db.flush()
            ids.append(account.id)
    return [sessions.open_session(backend, i, terminal_id=f"kiosk-{n}")
            for n, i in enumerate(ids)]


def customer_with_code(backend: Backend) -> int:
    customer_id = make_customer(backend, NUMBER, last_name="Wettlauf", postal_code="34117")
    with backend.transaction() as db:
        db.add(ActivationCode(customer_id=customer_id,
                              code_digest=backend.digester.digest("activation",
                                                                  normalize_code(CODE)),
                              valid_until=dt.date.today() + dt.timedelta(days=30)))
    return customer_id


def test_process_race_for_one_customer_number(pool, real_backend) -> None:
    customer_id = customer_with_code(real_backend)
    tokens = accounts_with_sessions(real_backend, WORKERS)
    results = _race(pool, _link_worker, real_backend,
                    [(t, f"kiosk-{n}", CODE) for n, t in enumerate(tokens)])
    outcomes = Counter((kind, name) for kind, name, _text in results)
    assert outcomes[("ok", "")] == 1, results
    assert outcomes[("domain", "LinkConflict")] == WORKERS - 1, results
    with real_backend.transaction() as db:
        links = db.scalar(select(func.count()).select_from(CustomerLink)
                          .where(CustomerLink.customer_id == customer_id))
        used = db.scalar(select(ActivationCode.used_at)
                         .where(ActivationCode.customer_id == customer_id))
    assert links == 1 and used is not None


def test_process_race_wrong_codes_count_exactly(pool, real_backend) -> None:
    """20 wrong codes at once for one number: the number's counter freezes at exactly 5
    (its limit), the first four get the neutral message, the others the frozen one."""
    customer_with_code(real_backend)
    tokens = accounts_with_sessions(real_backend, WORKERS)
    results = _race(pool, _link_worker, real_backend,
                    [(t, f"kiosk-{n}", "WRONG-CODE-000") for n, t in enumerate(tokens)])
    outcomes = Counter(name for _kind, name, _text in results)
    assert outcomes == {"LinkFailed": 4, "CodeFrozen": WORKERS - 4}, results
    with real_backend.transaction() as db:
        rows = {(r.scope, r.key): r for r in db.scalars(
            select(Throttle).where(Throttle.action == "link_code"))}
    assert rows[("number", NUMBER)].failures == 5 and rows[("number", NUMBER)].frozen
    assert sum(r.failures for (scope, _k), r in rows.items() if scope == "account") == 5


def product_with_key(backend: Backend, sku: str, key: str) -> None:
    """A licence product with one unredeemed key."""
    with backend.transaction() as db:
        product = Product(sku=sku, name=f"Produkt {sku}", kind="licence",
                          access_url=f"https://example.org/{sku.lower()}")
        db.add(product)
        db.flush()
        db.add(LicenceKey(key_digest=backend.digester.digest("licence", normalize_key(key)),
                          product_id=product.id, valid_until=dt.date(2030, 1, 1)))


def test_process_race_for_one_licence_key(pool, real_backend) -> None:
    product_with_key(real_backend, "RACE-1", KEY)
    tokens = accounts_with_sessions(real_backend, WORKERS)
    results = _race(pool, _redeem_worker, real_backend,
                    [(t, f"kiosk-{n}") for n, t in enumerate(tokens)])
    outcomes = Counter((kind, name) for kind, name, _text in results)
    assert outcomes[("ok", "")] == 1, results
    assert outcomes[("domain", "KeyRejected")] == WORKERS - 1, results
    with real_backend.transaction() as db:
        owners = db.scalars(select(LicenceKey.redeemed_by_id)).all()
    assert len(owners) == 1 and owners[0] is not None


def test_process_throttle_counter_exact(pool, real_backend) -> None:
    results = _race(pool, _fail_worker, real_backend, [() for _ in range(WORKERS)])
    counts = sorted(int(text) for _kind, _name, text in results)
    assert counts == list(range(1, WORKERS + 1))  # each failure saw its own count
    with real_backend.transaction() as db:
        row = db.scalars(select(Throttle).where(Throttle.action == "race")).one()
    assert row.failures == WORKERS


def test_sqlite_writers_wait_for_a_long_write_instead_of_failing(pool, real_backend) -> None:
    """Another process holds SQLite's write lock for 2 s: the 20 workers wait (busy timeout)
    and then all count their failure; none sees "database is locked"."""
    if not real_backend.is_sqlite:
        pytest.skip("SQLite's single write lock; PostgreSQL locks rows")
    import sqlite3
    import time

    holder = sqlite3.connect(real_backend.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        executor, manager = pool
        barrier = manager.Barrier(WORKERS)
        futures = [executor.submit(_fail_worker, real_backend.database_url,
                                   str(real_backend.settings.home), barrier)
                   for _ in range(WORKERS)]
        time.sleep(2)
    finally:
        holder.execute("COMMIT")
        holder.close()
    results = [f.result(timeout=120) for f in futures]
    assert sorted(int(text) for kind, _name, text in results if kind == "ok") == \
        list(range(1, WORKERS + 1)), results


def test_pool_really_uses_separate_processes(pool) -> None:
    executor, _manager = pool
    pids = set(executor.map(_pid, range(WORKERS)))
    assert os.getpid() not in pids and len(pids) > 1


def _pid(_n: int) -> int:
    return os.getpid()
