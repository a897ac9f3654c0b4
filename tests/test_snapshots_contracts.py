"""SVG snapshots of "Vertragsverwaltung" (both lists), the link dialog (with the
empty-field messages) and the "Kundenverwaltung" in German and English.

Update after an intended change: ``pytest tests/test_snapshots_contracts.py --snapshot-update``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pilot import app_for, login_token, open_screen, press_button, settle
from sqlalchemy import update
from textual.pilot import Pilot
from textual.widgets import Input

from db.models import Customer
from screens.contract_customer import CustomerDataScreen
from screens.contracts import ContractsScreen
from services import contracts
from services.caller import Caller
from services.demo import load_demo

SIZE = (110, 40)


def _app(backend, language: str, *, linked: bool):
    load_demo(backend)
    token = login_token(backend, "amueller")
    if linked:
        for number in ("431177", "431178"):
            contracts.link_contract(backend, token, {
                "number": number, "birth_date": "05.10.2000", "last_name": "Musterjobber",
                "postal_code": "34117"}, Caller())
        contracts.link_contract(backend, token, {
            "number": "610042", "birth_date": "30.11.1979", "last_name": "Weiss",
            "postal_code": "50667"}, Caller())
    app = app_for(backend, language=language)
    app.set_session(token)
    return app


async def _open(pilot: Pilot) -> None:
    await open_screen(pilot, ContractsScreen())


async def _dialog_empty_fields(pilot: Pilot) -> None:
    await _open(pilot)
    await pilot.click("#contracts-link")
    await settle(pilot)
    pilot.app.screen.query_one("#contract-number", Input).value = "431177"
    await press_button(pilot, "#contract-submit")


@pytest.mark.parametrize("language", ["de", "en"])
def test_contract_lists(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language, linked=True), terminal_size=SIZE,
                        run_before=_open)


@pytest.mark.parametrize("language", ["de", "en"])
def test_link_dialog_empty_fields(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language, linked=False), terminal_size=SIZE,
                        run_before=_dialog_empty_fields)


async def _customer_data(pilot: Pilot) -> None:
    await open_screen(pilot, CustomerDataScreen("431177"))


@pytest.mark.parametrize("language", ["de", "en"])
def test_customer_data(snap_compare, sqlite_backend, language) -> None:
    app = _app(sqlite_backend, language, linked=True)
    with sqlite_backend.transaction() as db:  # "Erfasst am" is fixed for the snapshot
        db.execute(update(Customer).values(
            created_at=dt.datetime(2024, 10, 22, 8, 0, tzinfo=dt.UTC), gender="male"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_customer_data)
