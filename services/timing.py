"""Equal answer times where the answer must not tell whether an account exists (issue 20,
item 10).

The password-reset request, the organisation registration (an e-mail that has an account gets
the same answer as a new one), the organisation code step and the resend of codes give one
message for a known and an unknown identifier, but their database work differs (a code, a
mail and an audit row, or only the audit row). Making the queries identical would mean writing
rows for nobody; instead each such call takes at least a fixed time, ``response_floor_ms``
(``KIOSK_RESPONSE_FLOOR_MS``, default 250 ms): the call does its work and then sleeps for
the rest of the floor. As long as the work stays below the floor, the time seen from outside
is the floor plus scheduling noise, the same for both cases; the floor is set far above the
slowest path (a few milliseconds on both databases), so that a busy machine stays below it.
The sleep happens in the service's worker thread, never on the UI thread.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from services.backend import Backend

F = TypeVar("F", bound=Callable[..., Any])


def equal_time(fn: F) -> F:
    """Let the service call ``fn(backend, ...)`` take at least the backend's floor, whatever
    it answers or raises."""

    @functools.wraps(fn)
    def wrapper(backend: Backend, *args: Any, **kwargs: Any) -> Any:
        floor = max(0, backend.settings.response_floor_ms) / 1000
        start = time.perf_counter()
        try:
            return fn(backend, *args, **kwargs)
        finally:
            remaining = floor - (time.perf_counter() - start)
            if remaining > 0:
                time.sleep(remaining)

    return wrapper  # type: ignore[return-value]


__all__ = ["equal_time"]
