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


#: (backend, agent name) -> (TOTP secret, unused recovery codes) of agents enrolled here.
_FACTORS: dict[tuple[int, str], tuple[str, list[str]]] = {}


def agent_login(backend, name: str, password: str, caller: Caller | None = None):
    """Log an agent in through both steps (#15) and return ``second_factor.LoginDone``
    (``token``, ``display_name``, ``kind``): the first login enrols (the code of the new
    secret at the backend's clock), later ones type the current code — the next step when
    this one was used already, a recovery code when the clock allows no fresh step."""
    import datetime as dt

    from services import second_factor
    from services.errors import AuthFailed

    caller = caller or Caller()
    result = accounts.login_agent(backend, name, password, caller)
    if result.second_factor == second_factor.ENROL:
        enrolment = second_factor.begin_enrolment(backend, result.token)
        done = second_factor.confirm_enrolment(
            backend, result.token, second_factor.code_at(enrolment.secret, backend.now()),
            caller)
        _FACTORS[(id(backend), name)] = (enrolment.secret, list(done.recovery_codes))
        return second_factor.LoginDone(token=result.token, account_id=done.account_id,
                                       display_name=done.display_name, kind=done.kind,
                                       language=done.language)
    secret, codes = _FACTORS[(id(backend), name)]
    for offset in (0, second_factor.STEP):
        code = second_factor.code_at(secret, backend.now() + dt.timedelta(seconds=offset))
        try:
            return second_factor.complete_login(backend, result.token, code, caller)
        except AuthFailed:
            continue
    return second_factor.complete_login(backend, result.token, codes.pop(), caller,
                                        recovery=True)


async def enrol_on_screen(pilot: Pilot, backend) -> list[str]:
    """On the enrolment screen: type the code of the secret it shows (the backend's clock),
    then leave the recovery codes screen; returns the recovery codes it showed."""
    from services import second_factor

    app = pilot.app
    secret = text(app, "#totp-enrol-secret").replace(" ", "")
    app.screen.query_one("#totp-enrol-code").value = second_factor.code_at(secret,
                                                                           backend.now())
    await pilot.click("#totp-enrol-submit")
    await settle(pilot)
    codes = [line.split()[-1] for line in text(app, "#totp-recovery-codes").splitlines()]
    await pilot.click("#totp-recovery-done")
    await settle(pilot)
    return codes


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
