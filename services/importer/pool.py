"""The worker processes of an import (validation of long files, password hashing).

``spawn``: the importer's database connection and threads are never forked into a worker.
Workers ignore Ctrl+C (the importer handles it and stops the pool) and end themselves when
the importer is gone (``kill -9``): a watchdog thread compares their parent's pid.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any


def workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _watch(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the importer was killed: nobody reads what we do
            os._exit(0)


def _start(parent: int, initializer: Callable[..., None], args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the main process's to handle
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    initializer(*args)


def new_pool(size: int, initializer: Callable[..., None], *args: Any) -> ProcessPoolExecutor:
    """A pool of ``size`` processes, each prepared by ``initializer(*args)``."""
    return ProcessPoolExecutor(max_workers=size, mp_context=get_context("spawn"),
                               initializer=_start, initargs=(os.getpid(), initializer, args))
