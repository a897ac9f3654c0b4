"""SVG snapshots of every account screen in German and English.

Update after an intended change: ``pytest tests/test_snapshots_accounts.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from pilot import app_for
from textual.pilot import Pilot

from screens.home import HomeScreen, ReauthDialog
from screens.login import ForgotPasswordScreen, LoginScreen
from screens.register import RegisterScreen, VerifyScreen
from screens.settings import SettingsScreen

SCREENS = {
    "register": lambda: RegisterScreen(),
    "verify": lambda: VerifyScreen("erika@example.org"),
    "login": lambda: LoginScreen(),
    "forgot": lambda: ForgotPasswordScreen(),
    "home": lambda: HomeScreen("Erika Müller"),
    "settings": lambda: SettingsScreen(),
}


def _open(factory):
    async def run_before(pilot: Pilot) -> None:
        await pilot.app.push_screen(factory())
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("name", sorted(SCREENS))
def test_account_screen(snap_compare, sqlite_backend, name, language) -> None:
    assert snap_compare(app_for(sqlite_backend, language=language), terminal_size=(100, 30),
                        run_before=_open(SCREENS[name]))


@pytest.mark.parametrize("language", ["de", "en"])
def test_register_errors(snap_compare, sqlite_backend, language) -> None:
    async def submit_empty(pilot: Pilot) -> None:
        await pilot.app.push_screen(RegisterScreen())
        await pilot.pause()
        pilot.app.screen.action_submit()
        await pilot.pause()

    assert snap_compare(app_for(sqlite_backend, language=language), terminal_size=(100, 30),
                        run_before=submit_empty)


def test_reauth_dialog(snap_compare, sqlite_backend) -> None:
    assert snap_compare(app_for(sqlite_backend), terminal_size=(80, 24),
                        run_before=_open(ReauthDialog))


def test_register_at_80x24(snap_compare, sqlite_backend) -> None:
    assert snap_compare(app_for(sqlite_backend), terminal_size=(80, 24),
                        run_before=_open(RegisterScreen))
