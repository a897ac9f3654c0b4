"""SVG snapshots of the shell: welcome (German, English, high contrast) and help.

Update after an intended change: ``pytest tests/test_snapshots_shell.py --snapshot-update``,
then read the new SVGs before committing them.
"""

from __future__ import annotations

import pytest
from pilot import app_for, settle
from textual.pilot import Pilot
from textual.widgets import Button


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
def test_welcome_german(snap_compare, sqlite_backend, size) -> None:
    assert snap_compare(app_for(sqlite_backend), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
def test_welcome_english(snap_compare, sqlite_backend, size) -> None:
    assert snap_compare(app_for(sqlite_backend, language="en"), terminal_size=size,
                        run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
def test_welcome_high_contrast(snap_compare, sqlite_backend, size) -> None:
    assert snap_compare(app_for(sqlite_backend, high_contrast=True), terminal_size=size,
                        run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
def test_help_welcome_german(snap_compare, sqlite_backend, size) -> None:
    async def open_help(pilot: Pilot) -> None:
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(app_for(sqlite_backend), terminal_size=size, run_before=open_help)


def test_help_feedback_reasons(snap_compare, sqlite_backend) -> None:
    async def answer_no(pilot: Pilot) -> None:
        await pilot.press("f1")
        await settle(pilot)
        pilot.app.screen.query_one("#help-no", Button).press()
        await settle(pilot)
        pilot.app.screen.query_one("#help-scroll").scroll_end(animate=False)
        await settle(pilot)

    assert snap_compare(app_for(sqlite_backend), terminal_size=(100, 30), run_before=answer_no)
