"""SVG snapshots of every step of "Kundennummern zusammenführen" in German, English and high
contrast: the password re-entry, the numbers, the comparison with highlighted rows, the
blocked merge (customer-number login) and the confirmation.

Update after an intended change: ``pytest tests/test_snapshots_merge.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from pilot import app_for, login_token, press_button, settle
from textual.pilot import Pilot
from textual.widgets import Input

from screens.merge import MergeScreen
from services import customer_login, sessions
from services.caller import Caller
from services.demo import load_demo

SIZE = (110, 40)
PW = {"200002": "Leuchtturm-Sylt-Moewe-17", "200003": "Brezelkorb-Neckar-Turm-9",
      "200004": "Schlossberg-Fluss-Nebel-31"}
VARIANTS = [pytest.param("de", False, id="de"), pytest.param("en", False, id="en"),
            pytest.param("de", True, id="high-contrast")]


def _app(backend, language: str, high_contrast: bool, *, customer: bool = False,
         stale: bool = False, clock=None):
    load_demo(backend)
    if customer:
        token = customer_login.login(backend, "200003", PW["200003"], Caller()).token
    else:
        token = login_token(backend, "amueller")
    if stale:
        for _ in range(4):
            clock.advance(seconds=90)
            sessions.current(backend, token)
    app = app_for(backend, language=language, high_contrast=high_contrast)
    app.set_session(token)
    return app


async def _open(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.app.push_screen(MergeScreen(customer_login=pilot.app.session_token is not None
                                            and sessions.is_customer_session(
                                                pilot.app.backend, pilot.app.session_token)))
    await settle(pilot)


async def _proof(pilot: Pilot, number: str) -> None:
    await _open(pilot)
    screen = pilot.app.screen
    screen.query_one("#merge-other-number", Input).value = number
    screen.query_one("#merge-credential", Input).value = PW[number]
    screen.query_one("#merge-next").press()
    await settle(pilot)


async def _diff(pilot: Pilot) -> None:
    await _proof(pilot, "200002")


async def _blocked(pilot: Pilot) -> None:
    await _proof(pilot, "200004")


async def _done(pilot: Pilot) -> None:
    await _diff(pilot)
    await press_button(pilot, "#merge-take-over")


@pytest.mark.parametrize(("language", "contrast"), VARIANTS)
def test_reauth(snap_compare, sqlite_backend, clock, language, contrast) -> None:
    app = _app(sqlite_backend, language, contrast, stale=True, clock=clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=_open)


@pytest.mark.parametrize(("language", "contrast"), VARIANTS)
def test_numbers(snap_compare, sqlite_backend, language, contrast) -> None:
    assert snap_compare(_app(sqlite_backend, language, contrast), terminal_size=SIZE,
                        run_before=_open)


@pytest.mark.parametrize(("language", "contrast"), VARIANTS)
def test_comparison(snap_compare, sqlite_backend, language, contrast) -> None:
    assert snap_compare(_app(sqlite_backend, language, contrast), terminal_size=SIZE,
                        run_before=_diff)


@pytest.mark.parametrize(("language", "contrast"), VARIANTS)
def test_blocked(snap_compare, sqlite_backend, language, contrast) -> None:
    app = _app(sqlite_backend, language, contrast, customer=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=_blocked)


@pytest.mark.parametrize(("language", "contrast"), VARIANTS)
def test_confirmation(snap_compare, sqlite_backend, language, contrast) -> None:
    assert snap_compare(_app(sqlite_backend, language, contrast), terminal_size=SIZE,
                        run_before=_done)
