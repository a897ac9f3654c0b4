"""SVG snapshots of "Meine Kundendaten" (each tab) and "Meine Einstellungen" (each tab), in
German and English, with phones, a further e-mail address and a direct debit stored.

Update after an intended change: ``pytest tests/test_snapshots_profile.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from pilot import app_for, login_token, open_screen, switch_tab
from textual.pilot import Pilot

from screens.profile import TABS as PROFILE_TABS
from screens.profile import ProfileScreen
from screens.settings import TABS as SETTINGS_TABS
from screens.settings import SettingsScreen
from services import profile
from services.demo import load_demo

SIZE = (110, 40)


def _app(backend, language: str):
    load_demo(backend)
    token = login_token(backend, "amueller")
    profile.add_phone(backend, token, "0211 1234567", "DE")
    profile.add_phone(backend, token, "0664 1234567", "AT", "mobile")
    profile.add_email(backend, token, "anna.buero@example.de")
    profile.update_billing(backend, token, {
        "umbrella_organisation": "[b]Chorverband[/b] NRW 🎶", "delivery_method": "post",
        "payment_method": "direct_debit", "iban": "DE89 3704 0044 0532 0130 00"})
    app = app_for(backend, language=language)
    app.set_session(token)
    return app


def _open(screen_class, tabs_id: str, pane: str):
    async def run_before(pilot: Pilot) -> None:
        await open_screen(pilot, screen_class())
        await switch_tab(pilot, tabs_id, pane)

    return run_before


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("pane", [pane for pane, _ in PROFILE_TABS])
def test_profile_tab(snap_compare, sqlite_backend, pane, language) -> None:
    assert snap_compare(_app(sqlite_backend, language), terminal_size=SIZE,
                        run_before=_open(ProfileScreen, "profile-tabs", pane))


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("pane", [pane for pane, _ in SETTINGS_TABS])
def test_settings_tab(snap_compare, sqlite_backend, pane, language) -> None:
    assert snap_compare(_app(sqlite_backend, language), terminal_size=SIZE,
                        run_before=_open(SettingsScreen, "settings-tabs", pane))
