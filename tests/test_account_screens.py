"""Pilot flows of the accounts issue: register → confirm the code from the outbox → log in
→ settings → log out; the error paths beside their fields; the forgotten password."""

from __future__ import annotations

import pytest
from pilot import app_for, open_as, open_screen, press_button, settle, text, times_shown
from sqlalchemy import func, select
from textual.widgets import Checkbox, Input
from welcome_helpers import make_customer

from db.models import Account, CustomerLink
from screens.home import HomeScreen, ReauthDialog, with_recent_auth
from screens.login import ForgotPasswordScreen, LoginScreen
from screens.register import RegisterScreen, VerifyScreen
from screens.settings import SettingsScreen
from services import mail, sessions

SIZE = (100, 40)
PASSWORD = "Sonnenblume-am-Fenster-42"
NEW_PASSWORD = "Regenbogen-ueber-Kassel-2026"

FORM = {
    "register-email": "Erika.Mueller@example.org",
    "register-password": PASSWORD,
    "register-password-confirm": PASSWORD,
    "register-first-name": "Erika",
    "register-last-name": "Müller",
    "register-street": "Artilleriestr. 39",
    "register-postal-code": "34117",
    "register-city": "Kassel",
}


def last_mail(backend, to: str | None = None):
    with backend.transaction() as s:
        mails = [m for m in mail.outbox(s) if to is None or m.to == to]
    return mails[-1]


async def fill(pilot, values: dict[str, str]) -> None:
    for widget_id, value in values.items():
        pilot.app.screen.query_one(f"#{widget_id}", Input).value = value
    await pilot.pause()


async def register(pilot, values: dict[str, str] = FORM, terms: bool = True) -> None:
    await pilot.click("#welcome-register")
    await settle(pilot)
    assert isinstance(pilot.app.screen, RegisterScreen)
    await fill(pilot, values)
    pilot.app.screen.query_one("#register-terms", Checkbox).value = terms
    await press_button(pilot, "#register-submit")


async def test_register_confirm_login_logout(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot)
        assert isinstance(app.screen, VerifyScreen)
        sent = last_mail(sqlite_backend)
        assert sent.to == "Erika.Mueller@example.org" and sent.template == "verify_email"
        await fill(pilot, {"verify-code": sent.params["code"].lower()})
        await press_button(pilot, "#verify-submit")
        assert isinstance(app.screen, LoginScreen)
        assert "bestätigt" in text(app, "#login-notice")
        # e-mail in another case works as the identifier
        app.screen.query_one("#login-identifier", Input).value = "erika.mueller@EXAMPLE.org"
        await fill(pilot, {"login-password": PASSWORD})
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert app.session_token
        assert "Erika" in text(app, "#home-greeting")
        await pilot.press("f10")
        await settle(pilot)
        assert app.session_token is None
        assert type(app.screen).__name__ == "WelcomeScreen"
    with sqlite_backend.transaction() as s:
        account = s.scalar(select(Account))
        assert account.status == "active" and account.password_hash.startswith("$argon2id$")


async def test_field_errors_beside_the_fields_and_nothing_stored(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    bad = dict(FORM, **{"register-email": "not-an-address", "register-postal-code": "12",
                        "register-password-confirm": "something else entirely"})
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot, bad, terms=False)
        assert isinstance(app.screen, RegisterScreen)
        assert text(app, "#register-email-error")
        assert text(app, "#register-postal-code-error")
        assert text(app, "#register-password-confirm-error")
        assert text(app, "#register-terms-error")
        assert text(app, "#form-error")
    with sqlite_backend.transaction() as s:
        assert s.scalar(select(func.count(Account.id))) == 0


async def test_errors_in_english(sqlite_backend) -> None:
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot, dict(FORM, **{"register-first-name": ""}))
        assert "empty" in text(app, "#register-first-name-error").lower()


async def test_common_password_refused_with_reason(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    common = "passwordpassword"
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot, dict(FORM, **{"register-password": common,
                                             "register-password-confirm": common}))
        assert "zu verbreitet" in text(app, "#register-password-error")


async def test_password_strength_shown_while_typing(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#welcome-register")
        await settle(pilot)
        app.screen.query_one("#register-password", Input).focus()
        await pilot.press(*"kurz")
        assert "4 von mindestens 15" in text(app, "#register-password-strength")


async def test_wrong_code_then_login_to_unconfirmed_account_leads_to_confirmation(
        sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot)
        await fill(pilot, {"verify-code": "WRONGCODE9"})
        await press_button(pilot, "#verify-submit")
        assert isinstance(app.screen, VerifyScreen)
        assert text(app, "#verify-code-error")
        assert times_shown(app, text(app, "#verify-code-error")) == 1
        await pilot.press("escape")
        await settle(pilot)
        await pilot.click("#welcome-login")
        await settle(pilot)
        await fill(pilot, {"login-identifier": FORM["register-email"], "login-password": PASSWORD})
        await press_button(pilot, "#login-submit")
        assert isinstance(app.screen, VerifyScreen)


async def test_wrong_password_is_neutral(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#welcome-login")
        await settle(pilot)
        await fill(pilot, {"login-identifier": "nobody@example.org",
                           "login-password": "irgendein-falsches-passwort"})
        await press_button(pilot, "#login-submit")
        # issue 19.10: once, beside the password, not again as the form's message
        unknown = text(app, "#login-password-error")
        assert "nicht korrekt" in unknown and times_shown(app, "nicht korrekt") == 1
        assert app.screen.query_one("#login-password", Input).value == ""


async def test_empty_login_fields(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#welcome-login")
        await settle(pilot)
        await press_button(pilot, "#login-submit")
        assert "leer" in text(app, "#login-identifier-error")
        assert "leer" in text(app, "#login-password-error")


async def _registered_and_confirmed(pilot, backend) -> None:
    await register(pilot)
    await fill(pilot, {"verify-code": last_mail(backend).params["code"]})
    await press_button(pilot, "#verify-submit")


async def test_forgotten_password(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await _registered_and_confirmed(pilot, sqlite_backend)
        await press_button(pilot, "#login-forgot")
        assert isinstance(app.screen, ForgotPasswordScreen)
        await press_button(pilot, "#forgot-submit")
        code = last_mail(sqlite_backend).params["code"]
        await fill(pilot, {"reset-code": code, "reset-password": NEW_PASSWORD,
                           "reset-password-confirm": NEW_PASSWORD})
        await press_button(pilot, "#reset-submit")
        assert isinstance(app.screen, LoginScreen)  # no automatic login
        assert app.session_token is None
        await fill(pilot, {"login-password": NEW_PASSWORD})
        await press_button(pilot, "#login-submit")
        assert isinstance(app.screen, HomeScreen)


async def test_settings_change_password_and_reauth(sqlite_backend, clock) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await _registered_and_confirmed(pilot, sqlite_backend)
        await fill(pilot, {"login-password": PASSWORD})
        await press_button(pilot, "#login-submit")
        await press_button(pilot, "#nav-settings")
        assert isinstance(app.screen, SettingsScreen)
        await fill(pilot, {"settings-current-password": "falsch-falsch-falsch-1",
                           "settings-new-password": NEW_PASSWORD,
                           "settings-new-password-confirm": NEW_PASSWORD})
        await press_button(pilot, "#settings-password-submit")
        assert text(app, "#settings-current-password-error") and text(app, "#form-error") == ""
        await fill(pilot, {"settings-current-password": PASSWORD})
        await press_button(pilot, "#settings-password-submit")
        assert "geändert" in text(app, "#settings-notice")
        # Six active minutes later a sensitive action asks for the password again.
        for _ in range(4):
            clock.advance(seconds=90)
            sessions.current(sqlite_backend, app.session_token)
        done: list[bool] = []
        with_recent_auth(app.screen, lambda: done.append(True))
        await settle(pilot)
        assert isinstance(app.screen, ReauthDialog)
        await fill(pilot, {"reauth-password": NEW_PASSWORD})
        await press_button(pilot, "#reauth-submit")
        assert done == [True]
        assert isinstance(app.screen, SettingsScreen)


async def test_customer_number_given_at_registration_is_linked(sqlite_backend) -> None:
    customer_id = make_customer(sqlite_backend, "K-100200", last_name="Müller",
                                postal_code="34117")
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        values = dict(FORM, **{"register-customer-number": "k-100200",
                               "register-last-name": "Mueller"})
        await register(pilot, values)
        await fill(pilot, {"verify-code": last_mail(sqlite_backend).params["code"]})
        await press_button(pilot, "#verify-submit")
        assert "K-100200" in text(app, "#login-notice")
    with sqlite_backend.transaction() as s:
        assert s.scalar(select(CustomerLink.customer_id)) == customer_id


@pytest.mark.parametrize("hostile", ["[b]Fett[/b]", "[link=x]y[/]", "\x1b[31mrot"])
async def test_hostile_names_are_shown_as_text(sqlite_backend, hostile) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await _registered_and_confirmed(pilot, sqlite_backend)
        with sqlite_backend.transaction() as s:
            s.scalar(select(Account)).first_name = hostile
        await fill(pilot, {"login-password": PASSWORD})
        await press_button(pilot, "#login-submit")
        shown = text(app, "#home-greeting")
        assert hostile.replace("\x1b", "") in shown or hostile.lstrip("\x1b") in shown
        assert "\x1b" not in shown


async def test_idle_session_expires_on_the_server(sqlite_backend, clock) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await _registered_and_confirmed(pilot, sqlite_backend)
        await fill(pilot, {"login-password": PASSWORD})
        await press_button(pilot, "#login-submit")
        assert isinstance(app.screen, HomeScreen)
        clock.advance(minutes=3)
        app.check_session()
        await settle(pilot)
        await settle(pilot)
        assert app.session_token is None
        assert type(app.screen).__name__ == "WelcomeScreen"
        assert any("Sitzung" in n.message for n in app._notifications)


async def test_typing_again_after_a_wrong_password_logs_in(sqlite_backend) -> None:
    """After a failure the cursor is back in the password field: the customer just types."""
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await _registered_and_confirmed(pilot, sqlite_backend)
        await pilot.press(*"falsches-passwort-123", "enter")
        await settle(pilot)
        assert "nicht korrekt" in text(app, "#login-password-error")
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_start_page_sections_in_the_command_palette(sqlite_backend) -> None:
    from pilot import palette_hits

    from screens.merge import MergeScreen
    from services.demo import load_demo
    from tui.commands import kiosk_commands

    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "amueller", HomeScreen("Anna Müller"))
        titles = [title for title, _cb, _help in kiosk_commands(app)]
        assert "Kundennummern zusammenführen" in titles and "Meine Kundendaten" in titles
        assert "Anmelden" not in titles  # the welcome screen's entries stay there
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"zusammenf")
        assert await palette_hits(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MergeScreen)


@pytest.mark.parametrize("size", [SIZE, (100, 30), (80, 24)], ids=str)
async def test_start_page_moves_with_the_arrow_keys(sqlite_backend, size) -> None:
    # At 100x30 and 80x24 the buttons scroll: the arrow keys must still move the focus (the
    # scroll container's own down/up bindings used to win and only scrolled the page).
    app = app_for(sqlite_backend)
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, HomeScreen("Erika"))
        assert app.focused.id == "nav-profile"
        await pilot.press("down", "down")
        assert app.focused.id == "nav-contracts"
        await pilot.press("up")
        assert app.focused.id == "nav-customer-numbers"


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=str)
async def test_welcome_moves_with_the_arrow_keys(sqlite_backend, size) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        first = app.focused.id
        await pilot.press("down", "down")
        assert app.focused.id not in {first, None}
        await pilot.press("up", "up")
        assert app.focused.id == first


async def test_f10_logs_out_from_every_flow_screen(sqlite_backend) -> None:
    from screens.contracts import contracts_flow
    from screens.merge import merge_flow
    from screens.products import ProductsScreen
    from screens.welcome import WelcomeScreen
    from services.demo import load_demo

    load_demo(sqlite_backend)
    for factory in (ProductsScreen, contracts_flow, merge_flow):
        app = app_for(sqlite_backend)
        async with app.run_test(size=SIZE) as pilot:
            await open_as(pilot, "amueller", factory())
            await pilot.press("f10")
            await settle(pilot)
            assert isinstance(app.screen, WelcomeScreen), factory
            assert app.session_token is None



async def register_after_language_switch(pilot, salutation: str | None = None) -> None:
    """Open the form, maybe choose an Anrede, switch the language (which fills the options
    again), fill in the rest and submit."""
    from textual.widgets import Select

    await pilot.click("#welcome-register")
    await settle(pilot)
    if salutation is not None:
        pilot.app.screen.query_one("#register-salutation", Select).value = salutation
    await pilot.press("f2")
    await settle(pilot)
    await fill(pilot, FORM)
    pilot.app.screen.query_one("#register-terms", Checkbox).value = True
    await press_button(pilot, "#register-submit")


@pytest.mark.parametrize("language", ["de", "en"])
async def test_registration_without_a_salutation_stores_none(sqlite_backend, language) -> None:
    """Issue 19.4: the form compared with ``Select.BLANK`` (False in Textual 8.2.8), so an
    untouched Anrede was stored as the text "Select.NULL"."""
    app = app_for(sqlite_backend, language=language)
    async with app.run_test(size=SIZE) as pilot:
        await register_after_language_switch(pilot)
        assert isinstance(app.screen, VerifyScreen)
    with sqlite_backend.transaction() as s:
        account = s.scalar(select(Account))
        assert (account.salutation, account.country) == (None, "DE")


async def test_registration_keeps_the_chosen_salutation(sqlite_backend) -> None:
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await register_after_language_switch(pilot, "Ms")
        assert isinstance(app.screen, VerifyScreen)
    with sqlite_backend.transaction() as s:
        assert s.scalar(select(Account.salutation)) == "Ms"


def test_no_screen_compares_a_select_with_blank() -> None:
    """``Select.BLANK`` is ``False`` in Textual 8; "no choice" is ``Select.NULL`` /
    ``is_blank()``. Every Select of the app is audited by this search."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = [f"{path.relative_to(root)}:{n}"
                 for folder in ("screens", "tui") for path in (root / folder).rglob("*.py")
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if "Select.BLANK" in line or ".BLANK" in line and "Select" in line]
    assert offenders == []


async def test_password_with_the_name_is_refused_once(sqlite_backend) -> None:
    """Issue 19.10: the password-contains-name reason showed beside the field and again as
    the form's message."""
    app = app_for(sqlite_backend)
    weak = "Erika-Erika-Erika-2026"
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot, dict(FORM, **{"register-password": weak,
                                            "register-password-confirm": weak}))
        assert isinstance(app.screen, RegisterScreen)
        reason = text(app, "#register-password-error")
        assert reason and times_shown(app, reason) == 1


async def test_keys_in_one_burst_follow_the_tab(sqlite_backend) -> None:
    """A scanner, a paste of "user<TAB>password", tmux send-keys or a browser's burst: keys
    that arrive together are queued at once. Tab moves the focus before the next key is
    given to a widget (it used to be handled only after the keys behind it had already gone
    to the old field, which got them all)."""
    from textual import events

    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(LoginScreen())
        await settle(pilot)
        assert app.focused.id == "login-identifier"
        burst = [*"eneu", "tab", *"geheim", "shift+tab", *"x"]
        for key in burst:
            character = key if len(key) == 1 else ("\t" if key == "tab" else None)
            app.post_message(events.Key(key, character))
        await settle(pilot)
        # back with Shift+Tab: the field's text is selected on focus and "x" replaces it
        assert app.screen.query_one("#login-identifier", Input).value == "x"
        assert app.screen.query_one("#login-password", Input).value == "geheim"
        assert app.focused.id == "login-identifier"


async def test_an_empty_field_gets_the_cursor(sqlite_backend) -> None:
    """"Anmelden" pressed with the password left empty: the message beside the password, and
    the cursor in it, so what the person types next lands there (not on the button)."""
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, LoginScreen())
        await pilot.press(*"eneu")
        app.screen.query_one("#login-submit").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "leer" in text(app, "#login-password-error")
        assert app.focused is app.screen.query_one("#login-password", Input)
