"""SVG snapshots of "Zugeordnete Kundennummern" in German and English (empty form with one
linked number, and the type conflict with the request button).

Update after an intended change:
``pytest tests/test_snapshots_customer_numbers.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from screens.customer_numbers import CustomerNumbersScreen
from services import accounts, sessions
from services.caller import Caller
from services.demo import load_demo
from tui.app import KioskApp

PASSWORD = "Sonnenblume-Kassel-2026"


def _app(backend, language: str) -> KioskApp:
    load_demo(backend)
    token = accounts.login(backend, "amueller", PASSWORD, Caller()).token
    sessions.reauthenticate(backend, token, PASSWORD)
    app = KioskApp(backend=backend, cursor_blink=False, idle_timeout=3600, language=language)
    app.set_session(token)
    return app


async def _settle(pilot: Pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _open(pilot: Pilot) -> None:
    await pilot.app.push_screen(CustomerNumbersScreen())
    await _settle(pilot)


async def _conflict(pilot: Pilot) -> None:
    await _open(pilot)
    screen = pilot.app.screen
    screen.query_one("#link-code", Input).value = "ANNA-7TWF-3HQD"
    screen.query_one("#link-number", Input).value = "200002"
    screen.query_one("#link-submit").press()
    await _settle(pilot)


@pytest.mark.parametrize("language", ["de", "en"])
def test_link_screen(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language), terminal_size=(110, 40),
                        run_before=_open)


@pytest.mark.parametrize("language", ["de", "en"])
def test_link_conflict(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_app(sqlite_backend, language), terminal_size=(110, 40),
                        run_before=_conflict)


def test_hostile_names_in_table(snap_compare, sqlite_backend) -> None:
    """Markup, emoji, RTL marks, escape sequences and 10,000 characters stay in their cells."""
    from sqlalchemy import select

    from db.models import Account, Customer, CustomerLink

    app = _app(sqlite_backend, "de")
    with sqlite_backend.transaction() as db:
        customer = Customer(number="666001", type="teacher",
                            first_name="[b]Evil[/b] 👾\u202eRTL\u200f\x1b[31mred\x07",
                            last_name="W" * 120, street="[link=http://x]Straße 1[/]",
                            postal_code="1010", city="Wien 🏰" + "x" * 100, country="AT")
        db.add(customer)
        db.flush()
        account_id = db.scalar(select(Account.id).where(Account.username == "amueller"))
        db.add(CustomerLink(account_id=account_id, customer_id=customer.id,
                            customer_type="teacher", linked_at=sqlite_backend.now()))
    assert snap_compare(app, terminal_size=(110, 40), run_before=_open)
