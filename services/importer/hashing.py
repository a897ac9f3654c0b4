"""argon2id hashes of the customer passwords of an import, on every core.

argon2id is slow by design (about 50–100 ms per password and core with the default profile),
so a file with many passwords is hashed by a pool of processes (``pool``) while the main
process keeps reading.
The hashes go to a staging table and reach ``customer`` only with the merge, so a refused or
interrupted import still writes nothing. A password whose customer already has a matching
hash keeps that hash: a re-import of the same file is "unchanged", not a new salt.

At most ``2 × workers`` batches are in flight: memory stays flat however many passwords.
"""

from __future__ import annotations

import time
import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.importer.pool import new_pool
from services.importer.pool import workers as pool_size

BATCH = 32  # passwords per task; a file with fewer never starts a pool

Profile = tuple[int, int, int]  # (memory KiB, time cost, parallelism)
_worker_hasher: argon2.PasswordHasher | None = None


def profile_of(hasher: Any) -> Profile:
    """The argon2 profile of a ``services.crypto.PasswordHasher``."""
    inner = hasher._hasher  # noqa: SLF001 - the profile the portal hashes with
    return inner.memory_cost, inner.time_cost, inner.parallelism


def _argon2(profile: Profile) -> argon2.PasswordHasher:
    memory, time_cost, parallelism = profile
    return argon2.PasswordHasher(memory_cost=memory, time_cost=time_cost,
                                 parallelism=parallelism, type=argon2.Type.ID)


def _init_worker(profile: Profile) -> None:
    global _worker_hasher
    _worker_hasher = _argon2(profile)


def hash_batch(items: Sequence[tuple[str, str, str | None]],
               hasher: argon2.PasswordHasher | None = None) -> list[tuple[str, str]]:
    """``[(number, hash)]`` for ``[(number, NFKC password, stored hash or None)]``."""
    ph = hasher or _worker_hasher
    assert ph is not None
    out = []
    for number, password, stored in items:
        if stored:
            try:
                if ph.verify(stored, password) and not ph.check_needs_rehash(stored):
                    out.append((number, stored))
                    continue
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                pass
        out.append((number, ph.hash(password)))
    return out


class PasswordJobs:
    """Collects ``(number, password)`` while a file is read; ``store`` receives the hashes."""

    def __init__(self, profile: Profile,
                 stored: Callable[[Sequence[str]], dict[str, str]],
                 store: Callable[[list[tuple[str, str]]], None],
                 workers: int | None = None) -> None:
        self.profile = profile
        self.stored = stored
        self.store = store
        self.workers = workers or pool_size()
        self.pending: list[tuple[str, str]] = []
        self.inflight: deque[Future[list[tuple[str, str]]]] = deque()
        self.pool: ProcessPoolExecutor | None = None
        self.done = 0
        self.seconds = 0.0
        self._started: float | None = None

    def add(self, number: str, password: str) -> None:
        # NFKC like portal passwords (services.accounts.prepare_password)
        self.pending.append((number, unicodedata.normalize("NFKC", password)))
        if len(self.pending) >= BATCH:
            self._submit()

    def _items(self) -> list[tuple[str, str, str | None]]:
        batch, self.pending = self.pending, []
        stored = self.stored([n for n, _ in batch])
        return [(n, p, stored.get(n)) for n, p in batch]

    def _submit(self) -> None:
        if self._started is None:
            self._started = time.perf_counter()
        if self.pool is None:
            self.pool = new_pool(self.workers, _init_worker, self.profile)
        self.inflight.append(self.pool.submit(hash_batch, self._items()))
        while len(self.inflight) > 2 * self.workers or (
            self.inflight and self.inflight[0].done()
        ):
            self._collect()

    def _collect(self) -> None:
        rows = self.inflight.popleft().result()
        self.store(rows)
        self.done += len(rows)

    def finish(self) -> None:
        """Hash what is left and wait for every batch."""
        if self.pending:
            if self._started is None:
                self._started = time.perf_counter()
            if self.pool is None:  # a handful: no processes for that
                rows = hash_batch(self._items(), _argon2(self.profile))
                self.store(rows)
                self.done += len(rows)
            else:
                self.inflight.append(self.pool.submit(hash_batch, self._items()))
        while self.inflight:
            self._collect()
        if self._started is not None:
            self.seconds = time.perf_counter() - self._started
        self.close()

    def close(self) -> None:
        """Stop the pool (pending batches are dropped: the import writes nothing then)."""
        self.pending.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.inflight.clear()
