"""Helpers shared by the Pilot (UI) tests: an app on a test backend, waiting for workers,
reading a widget's text, and a logged-in session token."""

from __future__ import annotations

from textual.pilot import Pilot

from services import accounts, sessions
from services.caller import Caller
from tui.app import KioskApp

#: Passwords of the demo accounts (services.demo), for tests that log in as them.
DEMO_PASSWORDS = {
    "lfuchs": "Bergwiese-Donau-Abend-2026",
    "amueller": "Sonnenblume-Kassel-2026",
    "kkoehler": "Praxisschild-Isar-Wolke-2026",
    "eneu": "Regenbogen-Kiel-Wasser-2026",
}


def app_for(backend, **kwargs) -> KioskApp:
    """A KioskApp on ``backend`` without cursor blinking and with a long idle timeout."""
    kwargs.setdefault("idle_timeout", 3600)
    return KioskApp(backend=backend, cursor_blink=False, **kwargs)


async def settle(pilot: Pilot) -> None:
    """Let messages and thread workers run until the screen is quiet."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def text(app, selector: str) -> str:
    """The rendered text of the widget ``selector`` on the current screen."""
    return str(app.screen.query_one(selector).render())


def login_token(backend, user: str, password: str | None = None, *,
                reauth: bool = True) -> str:
    """Log ``user`` in through the service (a demo user unless a password is given)."""
    password = password or DEMO_PASSWORDS[user]
    token = accounts.login(backend, user, password, Caller()).token
    if reauth:
        sessions.reauthenticate(backend, token, password)
    return token


async def palette_hits(pilot: Pilot, timeout: float = 10.0) -> int:
    """After typing into the command palette: wait until its (asynchronous) search has
    listed something, and return how many hits there are."""
    import time

    from textual.command import CommandList

    deadline = time.monotonic() + timeout
    while True:
        count = pilot.app.screen.query_one(CommandList).option_count
        if count or time.monotonic() > deadline:
            return count
        await pilot.pause(0.05)


def times_shown(app, needle: str) -> int:
    """How many error widgets (beside a field or the form's) of the screen show ``needle``
    (issue 19.10: a message shows once, in the place it belongs)."""
    from screens.widgets import FieldError, FormError

    return sum(needle in str(w.render()) for kind in (FieldError, FormError)
               for w in app.screen.query(kind))
