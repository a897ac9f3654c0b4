"""Pilot flows of "Meine Kundendaten" and "Meine Einstellungen": every tab by keyboard,
field-level errors in German and English, the masked IBAN, release notes, disconnecting a
connected profile with the password."""

from __future__ import annotations

from pilot import app_for, open_as, press_button, settle, switch_tab, table_rows, text
from sqlalchemy import select
from textual.widgets import DataTable, Input, Select, TabbedContent

from db.models import Account, AuditEvent, Customer, CustomerLink
from screens.customer_numbers import CustomerNumbersScreen, UnlinkDialog
from screens.home import HomeScreen
from screens.profile import ProfileScreen
from screens.settings import SettingsScreen
from services import profile
from services.demo import load_demo

SIZE = (110, 40)


def _rows(app, table_id: str) -> list[str]:
    """Each row of the table ``#table_id`` as "cell | cell"."""
    return [" | ".join(row) for row in table_rows(app, table_id)]


async def test_name_and_address_errors_beside_fields_and_saved(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", ProfileScreen())
        screen = app.screen
        assert screen.query_one("#profile-last-name", Input).value == "Neumann"
        screen.query_one("#profile-postal-code", Input).value = "123"
        screen.query_one("#profile-submit").press()
        await settle(pilot)
        assert "5 Ziffern" in text(app, "#profile-postal-code-error")
        screen.query_one("#profile-postal-code", Input).value = "24105"
        screen.query_one("#profile-street", Input).value = "[b]Neue[/b] Straße 2"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "gespeichert" in text(app, "#profile-notice")
        assert text(app, "#profile-postal-code-error") == ""
    assert profile.get_profile(sqlite_backend, app.session_token).street == "[b]Neue[/b] Straße 2"


async def test_phones_by_keyboard_with_errors_in_english(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", ProfileScreen())
        await switch_tab(pilot, "profile-tabs", "tab-phones")
        app.screen.query_one("#profile-phone", Input).focus()
        await pilot.press(*"12", "enter")
        await settle(pilot)
        assert "valid phone number" in text(app, "#profile-phone-error")
        app.screen.query_one("#profile-phone", Input).value = ""
        await pilot.press(*"0431 1234567", "enter")
        await settle(pilot)
        assert _rows(app, "profile-phones-table") == ["Main number | +49 431 1234567"]
        app.screen.query_one("#profile-phone-country", Select).value = "AT"
        app.screen.query_one("#profile-phone-label", Select).value = "mobile"
        app.screen.query_one("#profile-phone", Input).value = "0664 1234567"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert _rows(app, "profile-phones-table")[1] == "Mobile | +43 664 1234567"
        app.screen.query_one("#profile-phone", Input).value = "+49 431 1234567"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "already in your list" in text(app, "#profile-phone-error")
        # remove the main number: the mobile number moves up
        table = app.screen.query_one("#profile-phones-table", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is app.screen.query_one("#profile-phone-remove")
        await pilot.press("enter")
        await settle(pilot)
        assert _rows(app, "profile-phones-table") == ["Main number | +43 664 1234567"]
        assert "removed" in text(app, "#profile-notice")


async def test_email_addresses(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", ProfileScreen())
        await switch_tab(pilot, "profile-tabs", "tab-email")
        assert _rows(app, "profile-emails-table") == ["Anmeldeadresse | erika.neu@example.de"]
        new = app.screen.query_one("#profile-new-email", Input)
        new.value = "kein-at-zeichen"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "gültige E-Mail-Adresse" in text(app, "#profile-new-email-error")
        new.value = "buero@example.de"
        await press_button(pilot, "#profile-email-add")
        assert _rows(app, "profile-emails-table")[1] == "Weitere Adresse | buero@example.de"
        # the login address is not removed here
        await press_button(pilot, "#profile-email-remove")
        assert "Meine Einstellungen" in text(app, "#profile-new-email-error")
        await press_button(pilot, "#profile-open-settings")
        assert isinstance(app.screen, SettingsScreen)


async def test_umbrella_delivery_payment_iban_masked(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", ProfileScreen())
        screen = app.screen
        await switch_tab(pilot, "profile-tabs", "tab-umbrella")
        screen.query_one("#profile-umbrella-organisation", Input).value = "[i]Chorverband[/i]"
        await switch_tab(pilot, "profile-tabs", "tab-more")
        assert not screen.query_one("#profile-bank").display
        screen.query_one("#profile-payment-method", Select).value = "direct_debit"
        screen.query_one("#profile-delivery-method", Select).value = "post"
        await pilot.pause()
        assert screen.query_one("#profile-bank").display
        screen.query_one("#profile-iban", Input).value = "DE89 3704 0044 0532 0130 01"
        screen.query_one("#profile-billing-submit").press()
        await settle(pilot)
        assert "gültige IBAN" in text(app, "#profile-iban-error")
        screen.query_one("#profile-iban", Input).value = "DE89 3704 0044 0532 0130 00"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "gespeichert" in text(app, "#profile-notice")
        assert screen.query_one("#profile-iban", Input).value == ""
        assert "DE89 **** **** **** **30 00" in text(app, "#profile-iban-current")
        assert screen.query_one("#profile-bic", Input).value == "COBADEFFXXX"
    with sqlite_backend.transaction() as db:
        account = db.scalars(select(Account).where(Account.username == "eneu")).one()
        assert (account.umbrella_organisation, account.delivery_method, account.iban) == (
            "[i]Chorverband[/i]", "post", "DE89370400440532013000")
        details = [str(e.details) for e in db.scalars(select(AuditEvent))]
    assert not any("DE89" in d or "3704" in d for d in details)


async def test_tabs_reachable_by_keyboard_and_language_switch(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", ProfileScreen())
        tabs = app.screen.query_one("#profile-tabs", TabbedContent)
        await pilot.press("shift+tab", "shift+tab")  # from the first name to the tab bar
        seen = [tabs.active]
        for _ in range(6):
            await pilot.press("right")
            await pilot.pause()
            seen.append(tabs.active)
        assert seen == ["tab-name", "tab-email", "tab-phones", "tab-umbrella", "tab-numbers",
                        "tab-more", "tab-settings"]
        await pilot.press("f2")
        await settle(pilot)
        assert "Delivery and payment" in str(tabs.get_tab("tab-more").label)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)


async def test_numbers_tab_opens_the_link_screen(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", ProfileScreen())
        await switch_tab(pilot, "profile-tabs", "tab-numbers")
        await press_button(pilot, "#profile-open-numbers")
        assert isinstance(app.screen, CustomerNumbersScreen)


async def test_settings_release_notes_in_both_languages(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", SettingsScreen())
        await switch_tab(pilot, "settings-tabs", "settings-tab-news")
        shown = " ".join(str(w.render()) for w in app.screen.query(".news-version"))
        newest = profile.release_notes("de")[0]
        assert f"Version {newest.version}" in shown
        assert newest.date.strftime("%d.%m.%Y") in shown
        await pilot.press("f2")
        await settle(pilot)
        changes = " ".join(str(w.render()) for w in app.screen.query(".news-change"))
        assert profile.release_notes("en")[0].changes[0] in changes


async def test_settings_connected_profiles_disconnect_with_password(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "amueller", SettingsScreen())
        await switch_tab(pilot, "settings-tabs", "settings-tab-profiles")
        assert _rows(app, "settings-profiles-table")[0].startswith("200001 | ")
        app.screen.query_one("#settings-profiles-table").focus()
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, UnlinkDialog)
        app.screen.query_one("#unlink-password", Input).value = "falsch-falsch-falsch"
        await pilot.press("enter")
        await settle(pilot)
        assert text(app, "#unlink-password-error")
        app.screen.query_one("#unlink-password", Input).value = "Sonnenblume-Kassel-2026"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        assert "200001" in text(app, "#settings-notice")
        assert _rows(app, "settings-profiles-table") == []
        assert "noch kein Profil" in text(app, "#settings-profiles-empty")
    with sqlite_backend.transaction() as db:
        linked = db.scalars(select(Customer.number).join(
            CustomerLink, CustomerLink.customer_id == Customer.id)).all()
        unlinked = db.scalars(select(AuditEvent).where(
            AuditEvent.event == "customer_unlinked")).one()
    assert "200001" not in linked and unlinked.details["number"] == "200001"


async def test_settings_from_the_start_page(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", HomeScreen("Erika"))
        await press_button(pilot, "#nav-settings")
        assert isinstance(app.screen, SettingsScreen)
        assert app.focused is app.screen.query_one("#settings-current-password")


async def test_a_tab_does_not_keep_another_tabs_errors(sqlite_backend) -> None:
    """Issue 19.13: "Bitte korrigieren Sie die markierten Felder." stayed on the other tabs."""
    from screens.profile import TABS

    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", ProfileScreen())
        screen = app.screen
        screen.query_one("#profile-postal-code", Input).value = "123"
        screen.query_one("#profile-last-name", Input).value = ""
        screen.query_one("#profile-submit").press()
        await settle(pilot)
        assert text(app, "#form-error") and text(app, "#profile-postal-code-error")
        await switch_tab(pilot, "profile-tabs", TABS[1][0])
        assert text(app, "#form-error") == "" and text(app, "#profile-postal-code-error") == ""
