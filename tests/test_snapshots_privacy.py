"""SVG snapshots of "Benutzerkonto löschen" (#16) in German and English: what happens, the
links of the account, the password field; and the last super admin's refusal.

Update after an intended change: ``pytest tests/test_snapshots_privacy.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from pilot import app_for, login_token, open_screen
from textual.pilot import Pilot

from screens.privacy import DeleteAccountScreen
from services.demo import load_demo

SIZE = (110, 40)


def _app(backend, language: str, user: str):
    load_demo(backend)
    app = app_for(backend, language=language)
    app.set_session(login_token(backend, user))
    return app


async def _open(pilot: Pilot) -> None:
    await open_screen(pilot, DeleteAccountScreen())


@pytest.mark.parametrize("language", ["de", "en"])
def test_delete_account_screen(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language, "amueller"), terminal_size=SIZE,
                        run_before=_open)


@pytest.mark.parametrize("language", ["de", "en"])
def test_delete_account_last_super_admin(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language, "kkoehler"), terminal_size=SIZE,
                        run_before=_open)
