"""Issue 20 item 8 on the screens: NUL and lone surrogates pasted into a form show the field's
message ("Diese Eingabe enthält unzulässige Zeichen."), never "Something went wrong"."""

from __future__ import annotations

import pytest
from pilot import agent_login, app_for, login_token, open_desk, settle, text
from textual import events

from services.agents import create_agent
from services.caller import Caller
from services.demo import load_demo

SIZE = (110, 40)
CONTROL_DE = "Diese Eingabe enthält unzulässige Zeichen."
GENERIC_DE = "Etwas ist schiefgelaufen"
HOSTILE = ["lfuchs\x00", "x\ud800y", "100001\x00\x00", "\udcff"]


async def _paste(app, pilot, selector: str, value: str) -> None:
    widget = app.screen.query_one(selector)
    widget.focus()
    widget.value = ""
    await pilot.pause()
    widget.post_message(events.Paste(value))
    await pilot.pause()
    assert widget.value == value  # the Input took the text as it was pasted


async def _send(app, pilot, fields: dict[str, str], submit: str | None = None) -> None:
    """Paste each value into its field, then press ``submit`` (or Enter)."""
    for selector, value in fields.items():
        await _paste(app, pilot, selector, value)
    if submit:
        await pilot.click(submit)
    else:
        await pilot.press("enter")
    await settle(pilot)


def _screen_text(app) -> str:
    return " ".join(str(w.render()) for w in app.screen.query("FieldError, FormError"))


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda v: v.encode("utf-8", "backslashreplace").hex())
async def test_login_shows_the_field_message(sqlite_backend, hostile):
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.open_flow("login")
        await settle(pilot)
        await _send(app, pilot, {"#login-identifier": hostile, "#login-password": "Passwort\x00"},
                    "#login-submit")
        assert CONTROL_DE in text(app, "#login-identifier-error")
        assert CONTROL_DE in text(app, "#login-password-error")
        assert GENERIC_DE not in _screen_text(app)


async def test_forgot_password_shows_the_field_message(sqlite_backend):
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.open_flow("login")
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await _send(app, pilot, {"#forgot-identifier": "lfuchs\x00"})
        shown = _screen_text(app)
        assert CONTROL_DE in shown and GENERIC_DE not in shown


async def test_link_number_shows_the_field_message(sqlite_backend):
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.set_session(login_token(sqlite_backend, "eneu"))
        app.open_flow("customer-numbers")
        await settle(pilot)
        await _send(app, pilot, {"#link-code": "KVG4-MAXJ-7QRT", "#link-number": "1000\x0001"},
                    "#link-submit")
        assert CONTROL_DE in text(app, "#link-number-error")
        assert GENERIC_DE not in _screen_text(app)


async def test_agent_login_and_desk_search_show_the_message(sqlite_backend):
    load_demo(sqlite_backend)
    create_agent(sqlite_backend, "desk_agent", "agent", "Schreibtisch-Lampe-Gruen-2026")
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.open_flow("agent-login")
        await settle(pilot)
        await _send(app, pilot, {"#agent-identifier": "desk\ud800agent", "#agent-password": "x"})
        assert CONTROL_DE in text(app, "#agent-identifier-error")
        assert GENERIC_DE not in _screen_text(app)

        result = agent_login(sqlite_backend, "desk_agent",
                             "Schreibtisch-Lampe-Gruen-2026", Caller())  # both steps (#15)
        await open_desk(pilot, result)
        await _send(app, pilot, {"#desk-search": "Mü\x00ller\ud800"})
        await pilot.pause(0.4)
        await settle(pilot)
        # A search box strips them and searches for the rest.
        table = app.screen.query_one("#desk-results")
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)][:2] == [
            "200001", "200002"]
        notes = " ".join(str(n.message) for n in app._notifications)
        assert GENERIC_DE not in notes
