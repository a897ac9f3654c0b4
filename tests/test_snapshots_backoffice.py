"""SVG snapshots of the service-desk back office in German and English: the dashboard, the
search with results, and the customer view.

Update after an intended change:
``pytest tests/test_snapshots_backoffice.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from pilot import app_for, new_agent, open_customer, open_screen, search_desk, settle
from textual.pilot import Pilot

from screens.backoffice.desk import DeskScreen
from services import accounts
from services.caller import Caller
from services.demo import load_demo

SIZE = (110, 40)


def _app(backend, language: str):
    load_demo(backend)
    from test_backoffice import _conflict_request

    _conflict_request(backend)  # one request in a queue
    try:
        accounts.login(backend, "eneu", "not-the-password-123456", Caller())
    except Exception:  # noqa: BLE001, S110 - one failed attempt for the dashboard
        pass
    result = new_agent(backend)
    app = app_for(backend, language=language)
    app.set_session(result.token)
    app._desk = result  # type: ignore[attr-defined]
    return app


async def _desk(pilot: Pilot) -> None:
    result = pilot.app._desk  # type: ignore[attr-defined]
    await open_screen(pilot, DeskScreen(result.display_name, result.kind))


async def _dashboard(pilot: Pilot) -> None:
    await _desk(pilot)
    await pilot.press("f7")
    await settle(pilot)


async def _search(pilot: Pilot) -> None:
    await _desk(pilot)
    await search_desk(pilot, "mül")


async def _customer(pilot: Pilot) -> None:
    await _desk(pilot)
    await open_customer(pilot, "200001")


@pytest.mark.parametrize("language", ["de", "en"])
def test_dashboard(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language), terminal_size=SIZE,
                        run_before=_dashboard)


@pytest.mark.parametrize("language", ["de", "en"])
def test_search(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language), terminal_size=SIZE, run_before=_search)


@pytest.mark.parametrize("language", ["de", "en"])
def test_customer_view(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language), terminal_size=SIZE,
                        run_before=_customer)
