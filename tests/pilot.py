"""Helpers shared by the Pilot (UI) tests, so that a test reads as its steps:

- the app and waiting: ``app_for``, ``settle``;
- logging in: ``login_token`` (a demo customer), ``new_agent`` / ``agent_login`` (a desk agent
  through both steps), ``enrol_on_screen``;
- opening a screen: ``open_screen`` (with a session token), ``open_as`` (as a demo customer),
  ``open_desk`` (the service desk as an agent), ``open_customer`` (a customer at the
  desk), ``switch_tab``;
- typing and forms: ``type_text``, ``search_desk``, ``fill``, ``press_button``, ``confirm``;
- the command palette: ``run_command``, ``palette_hits``;
- reading the screen: ``text``, ``table_rows``, ``times_shown``.
"""

from __future__ import annotations

from collections.abc import Mapping

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

#: The password ``new_agent`` gives a desk agent unless the test names another.
AGENT_PASSWORD = "Schreibtisch-Kaffee-Leuchte-77"


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


async def open_screen(pilot: Pilot, screen, token: str | None = None) -> None:
    """Open ``screen`` (with the session ``token`` when one is given) and wait until it has
    loaded."""
    if token is not None:
        pilot.app.set_session(token)
    await pilot.app.push_screen(screen)
    await settle(pilot)


async def open_as(pilot: Pilot, user: str, screen) -> None:
    """Log the demo customer ``user`` in (``login_token``) and open ``screen`` for them."""
    await open_screen(pilot, screen, login_token(pilot.app.backend, user))


async def switch_tab(pilot: Pilot, tabs_id: str, pane: str) -> None:
    """Show the pane ``pane`` of the TabbedContent ``#tabs_id`` and wait until it has loaded."""
    from textual.widgets import TabbedContent

    pilot.app.screen.query_one(f"#{tabs_id}", TabbedContent).active = pane
    await settle(pilot)


async def type_text(pilot: Pilot, value: str) -> None:
    """Type ``value`` into the focused widget, one key press a character."""
    for ch in value:
        await pilot.press(ch)


async def search_desk(pilot: Pilot, words: str) -> None:
    """On the desk: type ``words`` into the search and wait for the results (the search
    runs a moment after the last key)."""
    await type_text(pilot, words)
    await pilot.pause(0.4)
    await settle(pilot)


async def fill(pilot: Pilot, fields: Mapping[str, str] | None = None, /, **more: str) -> None:
    """Set text inputs of the current screen and let it see the new values. ``fields`` maps a
    widget id (without ``#``) to its value; a keyword names the id with ``_`` for ``-``
    (``fill(pilot, login_password="…")`` sets ``#login-password``)."""
    from textual.widgets import Input

    values = dict(fields or {})
    values.update({name.replace("_", "-"): value for name, value in more.items()})
    for widget_id, value in values.items():
        pilot.app.screen.query_one(f"#{widget_id}", Input).value = value
    await pilot.pause()


async def press_button(pilot: Pilot, selector: str) -> None:
    """Press the button ``selector`` of the current screen and wait for what it does."""
    pilot.app.screen.query_one(selector).press()
    await settle(pilot)


async def confirm(pilot: Pilot) -> None:
    """Answer the open confirmation dialog with yes and wait for what it does."""
    await pilot.click("#confirm-yes")
    await settle(pilot)


def table_rows(app, table_id: str) -> list[list[str]]:
    """The cells (as text) of each row of the DataTable ``#table_id`` on the current screen."""
    from textual.widgets import DataTable

    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


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


def new_agent(backend, name: str = "desk_agent", role: str = "agent",
              password: str = AGENT_PASSWORD, caller: Caller | None = None):
    """Create the desk agent ``name`` (role ``agent`` or ``supervisor``) and log them in
    through both steps (``agent_login``); returns its ``LoginDone``."""
    from services.agents import create_agent

    create_agent(backend, name, role, password)
    return agent_login(backend, name, password, caller)


async def open_desk(pilot: Pilot, agent) -> None:
    """Open the service desk for ``agent`` (a ``LoginDone`` of ``new_agent`` or
    ``agent_login``) and wait until it has loaded."""
    from screens.backoffice.desk import DeskScreen

    await open_screen(pilot, DeskScreen(agent.display_name, agent.kind), agent.token)


async def open_customer(pilot: Pilot, number: str) -> None:
    """On the desk: open the customer view of the customer number ``number``."""
    pilot.app.screen.open_number(number)
    await settle(pilot)


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


async def run_command(pilot: Pilot, words: str) -> None:
    """Open the command palette, type ``words``, and run the first command it lists."""
    await pilot.press("ctrl+p")
    await settle(pilot)
    await type_text(pilot, words)
    assert await palette_hits(pilot), f"the palette lists nothing for {words!r}"
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def times_shown(app, needle: str) -> int:
    """How many error widgets (beside a field or the form's) of the screen show ``needle``
    (issue 19.10: a message shows once, in the place it belongs)."""
    from screens.widgets import FieldError, FormError

    return sum(needle in str(w.render()) for kind in (FieldError, FormError)
               for w in app.screen.query(kind))
