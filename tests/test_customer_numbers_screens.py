"""Pilot flows of "Zugeordnete Kundennummern": link with re-entry of the password, both
conflicts with the request to the service desk, wrong and expired codes, hostile names."""

from __future__ import annotations

import datetime as dt

from pilot import (
    DEMO_PASSWORDS,
    app_for,
    login_token,
    open_screen,
    press_button,
    settle,
    table_rows,
    text,
    times_shown,
)
from sqlalchemy import select
from textual.widgets import DataTable, Input

from db.models import ActivationCode, Customer, SupportRequest
from screens.customer_numbers import CustomerNumbersScreen, UnlinkDialog, cell
from screens.home import ReauthDialog
from services import customer_numbers, sessions
from services.crypto import normalize_code
from services.demo import load_demo

SIZE = (120, 50)
HOSTILE = ("[b]Evil[/b] [link=http://x]👾\u202eRTL\u200f\x1b[31mred\x07 " + "W" * 10_000)


def app_and_token(backend, user: str, *, reauth: bool = True, language: str = "de"):
    """A test app in ``language`` and a session token of the demo customer ``user``."""
    return app_for(backend, language=language), login_token(backend, user, reauth=reauth)


async def submit(pilot, code: str, number: str) -> None:
    screen = pilot.app.screen
    screen.query_one("#link-code", Input).value = code
    screen.query_one("#link-number", Input).value = number
    screen.query_one("#link-submit").press()
    await settle(pilot)


def table_numbers(app) -> list[str]:
    """The customer numbers the table lists, top to bottom."""
    return [row[0] for row in table_rows(app, "customer-numbers-table")]


async def test_link_after_password_reentry(sqlite_backend, clock) -> None:
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu", reauth=False)
    for _ in range(4):  # six minutes of use after the login: the password is asked again
        clock.advance(seconds=90)
        sessions.current(sqlite_backend, token)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        assert table_numbers(app) == []
        await submit(pilot, "kvg4 maxj 7qrt", "100001")
        assert isinstance(app.screen, ReauthDialog)
        app.screen.query_one("#reauth-password", Input).value = DEMO_PASSWORDS["eneu"]
        await press_button(pilot, "#reauth-submit")
        assert isinstance(app.screen, CustomerNumbersScreen)
        assert table_numbers(app) == ["100001"]
        row = app.screen.query_one("#customer-numbers-table", DataTable).get_row_at(0)
        assert str(row[2]) == "Max Musterjobber" and str(row[4]) == "21.11.2026"
        assert "100001" in text(app, "#link-notice") and "verknüpft" in text(app, "#link-notice")
        assert app.screen.query_one("#link-code", Input).value == ""


async def test_empty_fields(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        await submit(pilot, "", "")
        assert "leer" in text(app, "#link-code-error")
        assert "leer" in text(app, "#link-number-error")


async def test_wrong_and_expired_code_one_message(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        await submit(pilot, "AAAA-BBBB-CCCC", "100001")
        wrong = text(app, "#link-code-error")
        assert "passen nicht zusammen" in wrong
        assert times_shown(app, "passen nicht zusammen") == 1
        assert app.screen.focused is app.screen.query_one("#link-code")
        await submit(pilot, "WEAN-3KXP-9DFM", "100003")
        assert text(app, "#link-code-error") == wrong
        assert not app.screen.query_one("#link-request-support").has_class("-shown")
        assert table_numbers(app) == []


async def test_frozen_after_five_wrong_codes(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        for _ in range(5):
            await submit(pilot, "AAAA-BBBB-CCCC", "100001")
        assert "Kundenservice" in text(app, "#link-code-error")
        assert "neuen Freischaltcode" in text(app, "#link-code-error")


async def test_conflict_taken_and_support_request(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        await submit(pilot, "FUXC-4HNT-7KAR", "100005")
        assert "bereits einem anderen Benutzernamen" in text(app, "#form-error")
        support = app.screen.query_one("#link-request-support")
        assert support.has_class("-shown") and app.screen.focused is support
        await pilot.press("enter")
        await settle(pilot)
        assert "an den Kundenservice gesendet" in text(app, "#link-notice")
        assert not support.has_class("-shown")
    with sqlite_backend.transaction() as db:
        request = db.scalars(select(SupportRequest)).one()
    assert request.kind == "link_conflict_taken"


async def test_conflict_type_in_english(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "amueller", language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        assert table_numbers(app) == ["200001"]
        await submit(pilot, "ANNA-7TWF-3HQD", "200002")
        assert "already assigned to your account" in text(app, "#form-error")
        await press_button(pilot, "#link-request-support")
        assert "sent to the service desk" in text(app, "#link-notice")
    with sqlite_backend.transaction() as db:
        assert db.scalars(select(SupportRequest)).one().kind == "link_conflict_type"


async def test_unlink_with_password(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "amueller")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        app.screen.query_one("#customer-numbers-table").focus()
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, UnlinkDialog)
        app.screen.query_one("#unlink-password", Input).value = "wrong"
        await press_button(pilot, "#unlink-submit")
        assert text(app, "#unlink-password-error")
        assert times_shown(app, text(app, "#unlink-password-error")) == 1
        app.screen.query_one("#unlink-password", Input).value = DEMO_PASSWORDS["amueller"]
        await press_button(pilot, "#unlink-submit")
        assert isinstance(app.screen, CustomerNumbersScreen)
        assert table_numbers(app) == []


def add_hostile(backend) -> None:
    with backend.transaction() as db:
        customer = Customer(number="666001", type="teacher", first_name=HOSTILE[:120],
                            last_name="[red]Böse[/red]\x00", street="\u202eStraße 1[/]",
                            postal_code="1010", city="Wien 🏰", country="AT")
        db.add(customer)
        db.flush()
        db.add(ActivationCode(customer_id=customer.id, valid_until=dt.date(2030, 1, 1),
                              code_digest=backend.digester.digest(
                                  "activation", normalize_code("EVIL-7KXP-4MRT"))))


async def test_hostile_names_stay_plain_text(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    add_hostile(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        await submit(pilot, "EVIL-7KXP-4MRT", "666001")
        assert table_numbers(app) == ["666001"]
        row = app.screen.query_one("#customer-numbers-table", DataTable).get_row_at(0)
        name, address = str(row[2]), str(row[3])
        assert name.startswith("[b]Evil[/b] [link=http:") and name.endswith("…")
        assert "\x1b" not in name and "\u202e" not in name and "\x07" not in name
        assert "\u202e" not in address and address.startswith("Straße 1[/]")
        assert len(name) <= 24
        await pilot.pause()  # renders without a markup error
        assert app.screen.query_one("#customer-numbers-table").size.width <= SIZE[0]


def test_cell_truncates_and_cleans() -> None:
    value = cell("a\nb\t[b]" + "x" * 10_000, 20)
    assert value.cell_len <= 20 and "\n" not in value.plain and value.plain.startswith("a b [b]")
    assert cell(None, 5).plain == ""


async def test_linked_numbers_service_matches_table(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    assert [n.number for n in customer_numbers.linked_numbers(sqlite_backend, token)] == [
        "200001"]


def _in_view(app, widget) -> bool:
    """The widget is fully on the terminal (not scrolled out of its container)."""
    region = widget.region
    width, height = app.size
    return region.height > 0 and region.y >= 0 and region.bottom <= height - 1 and \
        region.right <= width


async def test_conflict_message_and_next_button_in_view_at_80x24(sqlite_backend) -> None:
    """Issue 19.8: after a customer-number conflict the "send a request" button was below
    the visible part; the message and the next control are scrolled into view and focused."""
    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        await submit(pilot, "FUXC-4HNT-7KAR", "100005")
        support = app.screen.query_one("#link-request-support")
        assert app.screen.focused is support and _in_view(app, support)
        assert _in_view(app, app.screen.query_one("#form-error"))


async def test_contract_link_dialog_buttons_reachable_at_80x24(sqlite_backend) -> None:
    """Issue 19.8: the contract-link dialog was taller than the terminal, its buttons never
    visible; it scrolls, and the focused button is in view."""
    from screens.contracts import ContractsScreen, LinkContractDialog

    load_demo(sqlite_backend)
    app, token = app_and_token(sqlite_backend, "eneu")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, ContractsScreen(), token)
        await open_screen(pilot, LinkContractDialog())
        app.screen.query_one("#contract-number", Input).value = "431177"
        await pilot.press("enter")
        await settle(pilot)
        for button_id in ("#contract-submit", "#contract-cancel"):
            button = app.screen.query_one(button_id)
            button.focus()
            await settle(pilot)
            assert _in_view(app, button), button_id
