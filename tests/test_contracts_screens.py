"""Pilot flows of "Vertragsverwaltung" (guide 001): linking through the dialog, the
empty-field messages, wrong data, the limit with the request to the service desk, the
customer data with consent changes, and the export (files, and mail in kiosk mode)."""

from __future__ import annotations

from pathlib import Path

from pilot import (
    app_for,
    fill,
    login_token,
    open_as,
    open_screen,
    press_button,
    settle,
    table_rows,
    text,
)
from sqlalchemy import select
from textual.widgets import Checkbox, DataTable, Input

from db.models import Consent, Customer, OutboxMail, SupportRequest
from screens.contract_customer import CustomerDataScreen
from screens.contracts import ContractsScreen, LinkContractDialog
from screens.home import ReauthDialog
from services import contracts, sessions
from services.caller import Caller
from services.demo import load_demo

SIZE = (110, 40)
#: The link dialog's fields for contract 431177 (customer 100001), right.
GOOD = {"contract-number": "431177", "contract-birth-date": "05.10.2000",
        "contract-last-name": "Musterjobber", "contract-postal-code": "34117"}
#: The same data as the service takes them.
LINK_431177 = {"number": "431177", "birth_date": "05.10.2000", "last_name": "Musterjobber",
               "postal_code": "34117"}


def _amueller_with_431177(backend) -> str:
    """Log the demo customer amueller in and link contract 431177; returns her token."""
    token = login_token(backend, "amueller")
    contracts.link_contract(backend, token, LINK_431177, Caller())
    return token


async def open_dialog(pilot) -> None:
    """On the contracts screen: open the link dialog."""
    await pilot.click("#contracts-link")
    await settle(pilot)
    assert isinstance(pilot.app.screen, LinkContractDialog)


async def test_link_through_the_dialog_by_keyboard(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "amueller", ContractsScreen())
        assert table_rows(app, "contracts-active") == []
        assert "Noch kein Vertrag" in text(app, "#contracts-active-empty")
        await pilot.press("f6")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, LinkContractDialog)
        # the further fields appear once the number is there (guide step 8)
        assert not dialog.query_one("#contract-birth-date").display or \
            dialog.query_one("#contract-details").has_class("-hidden")
        await pilot.press(*"431177", "enter")
        assert not dialog.query_one("#contract-details").has_class("-hidden")
        assert dialog.focused.id == "contract-birth-date"
        await pilot.press(*"05.10.2000", "enter", *"MUSTERJOBBER ", "enter")
        await pilot.press(*"34117", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ContractsScreen)
        assert table_rows(app, "contracts-active") == [
            ["01.05.2023", "unbefristet", "431177", "", "AKTIV", "Jobticket Kassel"]]
        assert "431177 ist nun mit Ihrem Konto verknüpft" in text(app, "#contracts-notice")


async def test_wrong_name_is_refused_neutrally(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "amueller", ContractsScreen())
        await open_dialog(pilot)
        await fill(pilot, {**GOOD, "contract-last-name": "Mustermann"})
        await press_button(pilot, "#contract-submit")
        assert isinstance(app.screen, LinkContractDialog)
        assert "Die Angaben passen zu keinem Vertrag" in text(app, "#form-error")
        for name in ("number", "birth-date", "last-name", "postal-code"):
            assert text(app, f"#contract-{name}-error") == ""


async def test_empty_fields_say_so_beside_each_field(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "amueller", ContractsScreen())
        await open_dialog(pilot)
        await fill(pilot, {"contract-number": "431177"})
        await press_button(pilot, "#contract-submit")
        assert text(app, "#contract-number-error") == ""
        for name in ("birth-date", "last-name", "postal-code"):
            assert text(app, f"#contract-{name}-error") == "This field must not be empty."
        assert app.screen.focused.id == "contract-birth-date"
        await pilot.press("f2")  # German: the guide's wording
        await settle(pilot)
        await press_button(pilot, "#contract-submit")
        assert text(app, "#contract-last-name-error") == "Das Feld darf nicht leer bleiben"
        await fill(pilot, {**GOOD, "contract-birth-date": "31.02.2000"})
        await press_button(pilot, "#contract-submit")
        assert "gültiges Datum" in text(app, "#contract-birth-date-error")
        await pilot.click("#contract-cancel")
        await settle(pilot)
        assert isinstance(app.screen, ContractsScreen)
        assert table_rows(app, "contracts-active") == []


async def test_limit_then_request_to_the_service_desk(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "amueller", ContractsScreen())
        await open_dialog(pilot)
        for postal in ("34110", "34111", "34112"):
            await fill(pilot, {**GOOD, "contract-postal-code": postal})
            await press_button(pilot, "#contract-submit")
        assert "zu vieler Fehlversuche" in text(app, "#form-error")
        support = app.screen.query_one("#contract-request-support")
        assert support.has_class("-shown")
        await fill(pilot, GOOD)  # the right data do not help any more
        await press_button(pilot, "#contract-submit")
        assert "zu vieler Fehlversuche" in text(app, "#form-error")
        support.press()
        await settle(pilot)
        assert "Kundenservice" in text(app, "#contract-notice")
    with sqlite_backend.transaction() as db:
        request = db.scalars(select(SupportRequest)).one()
        assert (request.kind, request.details["reason"]) == ("contract_link_blocked",
                                                             "attempt_limit")


async def test_password_asked_again_after_five_minutes(sqlite_backend, clock) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller", reauth=False)
    for _ in range(4):
        clock.advance(seconds=90)
        sessions.current(sqlite_backend, token)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ContractsScreen(), token)
        await pilot.click("#contracts-link")
        await settle(pilot)
        assert isinstance(app.screen, ReauthDialog)
        app.screen.query_one("#reauth-password", Input).value = "Sonnenblume-Kassel-2026"
        await press_button(pilot, "#reauth-submit")
        assert isinstance(app.screen, LinkContractDialog)


async def test_lists_hostile_text_and_expired(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = _amueller_with_431177(sqlite_backend)
    contracts.link_contract(sqlite_backend, token, {**LINK_431177, "number": "431178"}, Caller())
    with sqlite_backend.transaction() as db:
        from db.models import Contract

        db.scalars(select(Contract).where(Contract.number == "431178")).one().product = (
            "[b]Evil[/b] \x1b[31m" + "W" * 500)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ContractsScreen(), token)
        assert table_rows(app, "contracts-active")[0][:5] == [
            "01/05/2023", "open-ended", "431177", "", "ACTIVE"]
        expired = table_rows(app, "contracts-expired")
        assert expired[0][:5] == ["01/01/2021", "31/12/2022", "431178", "AB-2021-0815",
                                  "EXPIRED"]
        assert expired[0][5].startswith("[b]Evil[/b]") and len(expired[0][5]) <= 24


async def test_customer_data_and_consent(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = _amueller_with_431177(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ContractsScreen(), token)
        app.screen.query_one("#contracts-active").focus()
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CustomerDataScreen)
        assert screen.query_one("#customer-last-name", Input).value == "Musterjobber"
        assert screen.query_one("#customer-birth-date", Input).value == "05.10.2000"
        checkbox = screen.query_one("#customer-advertising", Checkbox)
        assert checkbox.value is False
        checkbox.toggle()
        await settle(pilot)
        assert "Werbe-Einwilligung wurde gespeichert" in text(app, "#customer-notice"), text(app, "#form-error")
        assert screen.query_one("#customer-consents", DataTable).row_count == 1
        checkbox.toggle()
        await settle(pilot)
        assert screen.query_one("#customer-consents", DataTable).row_count == 2
        screen.query_one("#customer-postal-code", Input).value = "3411"
        screen.query_one("#customer-recipient", Input).value = "z. Hd. Max"
        screen.query_one("#customer-submit").press()
        await settle(pilot)
        assert text(app, "#customer-postal-code-error") == "Die Postleitzahl hat 5 Ziffern."
        screen.query_one("#customer-postal-code", Input).value = "34119"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Kundendaten wurden gespeichert" in text(app, "#customer-notice")
    with sqlite_backend.transaction() as db:
        customer = db.scalars(select(Customer).where(Customer.number == "100001")).one()
        assert (customer.postal_code, customer.recipient) == ("34119", "z. Hd. Max")
        history = db.scalars(select(Consent.granted).where(
            Consent.kind == "advertising").order_by(Consent.id)).all()
        assert history == [True, False]


async def test_export_writes_files_and_shows_the_path(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = _amueller_with_431177(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ContractsScreen(), token)
        await pilot.click("#contracts-export")
        await settle(pilot)
        notice = text(app, "#contracts-notice")
    folder = sqlite_backend.settings.resolved_export_dir
    files = sorted(p.name for p in folder.iterdir())
    assert [Path(f).suffix for f in files] == [".csv", ".pdf"]
    assert "Abo-Übersicht wurde gespeichert" in notice and str(folder) in notice.replace(
        "\n", "")


async def test_kiosk_mode_sends_the_overview_by_mail(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    app = app_for(sqlite_backend, kiosk_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ContractsScreen(), token)
        assert "per E-Mail" in text(app, "#contracts-export")
        await pilot.click("#contracts-export")
        await settle(pilot)
        assert "als PDF-Datei an" in text(app, "#contracts-notice")
    assert not sqlite_backend.settings.resolved_export_dir.exists()
    with sqlite_backend.transaction() as db:
        sent = db.scalars(select(OutboxMail).where(
            OutboxMail.template == "contract_overview")).one()
        assert sent.attachment.startswith(b"%PDF")


async def test_language_switch_retranslates_the_lists(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = _amueller_with_431177(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ContractsScreen(), token)
        assert table_rows(app, "contracts-active")[0][1:5] == ["unbefristet", "431177", "", "AKTIV"]
        await pilot.press("f2")
        await settle(pilot)
        assert table_rows(app, "contracts-active")[0][:5] == [
            "01/05/2023", "open-ended", "431177", "", "ACTIVE"]
        assert "Download subscription overview" in text(app, "#contracts-export")
        assert "No expired" in text(app, "#contracts-expired-empty")


async def test_kiosk_mode_intro_says_the_overview_is_mailed(sqlite_backend) -> None:
    """Issue 19.13: in kiosk mode the overview is mailed, but the intro said "herunterladen"."""
    load_demo(sqlite_backend)
    for kiosk, expected, absent in ((True, "per E-Mail", "herunterladen"),
                                    (False, "herunterladen", "per E-Mail")):
        app = app_for(sqlite_backend, kiosk_mode=kiosk)
        async with app.run_test(size=(100, 30)) as pilot:
            await open_as(pilot, "amueller", ContractsScreen())
            intro = text(app, ".form-intro")
            assert expected in intro and absent not in intro
