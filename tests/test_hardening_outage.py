"""Issue 20 item 12 (profile part): while the database is away the profile page shows its
error where it is seen — at the top, not below the visible area — and no empty form that looks
like the customer's data; "Try again" loads the data once the database is back."""

from __future__ import annotations

import os
from pathlib import Path

from pilot import app_for, login_token, settle, text

from services.demo import load_demo

SIZE = (80, 24)
OUTAGE_DE = "Die Datenbank ist nicht erreichbar oder nicht beschreibbar."


def _database_away(backend) -> tuple[Path, Path]:
    """The database file is gone (a directory in its place): every connection fails."""
    path = Path(backend.engine.url.database)
    backend.engine.dispose()
    away = path.with_suffix(".away")
    os.rename(path, away)
    path.mkdir()
    return path, away


async def test_profile_during_an_outage_shows_the_error_and_no_empty_form(sqlite_backend):
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "lfuchs")
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.set_session(token)
        path, away = _database_away(sqlite_backend)
        app.open_flow("profile")
        await settle(pilot)
        screen = app.screen
        error = screen.query_one("#form-error")
        assert OUTAGE_DE in text(app, "#form-error")
        # Seen: inside the visible region of the screen, not below it.
        assert error.region.height > 0
        assert error.region.bottom <= SIZE[1] - 1
        # No empty, editable form that looks like the data.
        assert not screen.query_one("#profile-tabs").display
        assert not screen.query_one("#profile-first-name").region.height
        retry = screen.query_one("#profile-retry")
        assert retry.display and retry.has_focus

        path.rmdir()
        os.rename(away, path)
        await pilot.press("enter")  # "Try again"
        await settle(pilot)
        assert screen.query_one("#profile-tabs").display
        assert screen.query_one("#profile-first-name").value == "Lukas"
        assert not screen.query_one("#profile-retry").display
        assert text(app, "#form-error") == ""
