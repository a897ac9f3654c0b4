"""Pilot flows of "Vertragsverwaltung" (guide 001): linking through the dialog, the
empty-field messages, wrong data, the limit with the request to the service desk, the
customer data with consent changes, and the export (files, and mail in kiosk mode)."""

from __future__ import annotations

from pathlib import Path

from pilot import app_for, login_token, settle, text
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
GOOD = {"number": "431177", "birth-date": "05.10.2000", "last-name": "Musterjobber",
        "postal-code": "34117"}


async def start(pilot, token: str) -> None:
    pilot.app.set_session(token)
    await pilot.app.push_screen(ContractsScreen())
    await settle(pilot)


async def open_dialog(pilot) -> None:
    await pilot.click("#contracts-link")
    await settle(pilot)
    assert isinstance(pilot.app.screen, LinkContractDialog)


async def fill(pilot, **values: str) -> None:
    for name, value in values.items():
        pilot.app.screen.query_one(f"#contract-{name}", Input).value = value
    await pilot.pause()


async def submit(pilot) -> None:
    pilot.app.screen.query_one("#contract-submit").press()
    await settle(pilot)


def rows(app, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_link_through_the_dialog_by_keyboard(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, login_token(sqlite_backend, "amueller"))
        assert rows(app, "contracts-active") == []
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
        assert rows(app, "contracts-active") == [
            ["01.05.2023", "unbefristet", "431177", "", "AKTIV", "Jobticket Kassel"]]
        assert "431177 ist nun mit Ihrem Konto verknüpft" in text(app, "#contracts-notice")


async def test_wrong_name_is_refused_neutrally(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, login_token(sqlite_backend, "amueller"))
        await open_dialog(pilot)
        await fill(pilot, **{**GOOD, "last-name": "Mustermann"})
        await submit(pilot)
        assert isinstance(app.screen, LinkContractDialog)
        assert "Die Angaben passen zu keinem Vertrag" in text(app, "#form-error")
        for name in ("number", "birth-date", "last-name", "postal-code"):
            assert text(app, f"#contract-{name}-error") == ""


async def test_empty_fields_say_so_beside_each_field(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, login_token(sqlite_backend, "amueller"))
        await open_dialog(pilot)
        await fill(pilot, number="431177")
        await submit(pilot)
        assert text(app, "#contract-number-error") == ""
        for name in ("birth-date", "last-name", "postal-code"):
            assert text(app, f"#contract-{name}-error") == "This field must not be empty."
        assert app.screen.focused.id == "contract-birth-date"
        await pilot.press("f2")  # German: the guide's wording
        await settle(pilot)
        await submit(pilot)
        assert text(app, "#contract-last-name-error") == "Das Feld darf nicht leer bleiben"
        await fill(pilot, **{**GOOD, "birth-date": "31.02.2000"})
        await submit(pilot)
        assert "gültiges Datum" in text(app, "#contract-birth-date-error")
        await pilot.click("#contract-cancel")
        await settle(pilot)
        assert isinstance(app.screen, ContractsScreen)
        assert rows(app, "contracts-active") == []


async def test_limit_then_request_to_the_service_desk(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, login_token(sqlite_backend, "amueller"))
        await open_dialog(pilot)
        for postal in ("34110", "34111", "34112"):
            await fill(pilot, **{**GOOD, "postal-code": postal})
            await submit(pilot)
        assert "zu vieler Fehlversuche" in text(app, "#form-error")
        support = app.screen.query_one("#contract-request-support")
        assert support.has_class("-shown")
        await fill(pilot, **GOOD)  # the right data do not help any more
        await submit(pilot)
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
        await start(pilot, token)
        await pilot.click("#contracts-link")
        await settle(pilot)
        assert isinstance(app.screen, ReauthDialog)
        app.screen.query_one("#reauth-password", Input).value = "Sonnenblume-Kassel-2026"
        app.screen.query_one("#reauth-submit").press()
        await settle(pilot)
        assert isinstance(app.screen, LinkContractDialog)


async def test_lists_hostile_text_and_expired(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    for data in ({"number": "431177"}, {"number": "431178"}):
        contracts.link_contract(sqlite_backend, token, {
            "birth_date": "05.10.2000", "last_name": "Musterjobber", "postal_code": "34117",
            **data}, Caller())
    with sqlite_backend.transaction() as db:
        from db.models import Contract

        db.scalars(select(Contract).where(Contract.number == "431178")).one().product = (
            "[b]Evil[/b] \x1b[31m" + "W" * 500)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, token)
        assert rows(app, "contracts-active")[0][:5] == [
            "01/05/2023", "open-ended", "431177", "", "ACTIVE"]
        expired = rows(app, "contracts-expired")
        assert expired[0][:5] == ["01/01/2021", "31/12/2022", "431178", "AB-2021-0815",
                                  "EXPIRED"]
        assert expired[0][5].startswith("[b]Evil[/b]") and len(expired[0][5]) <= 24


async def test_customer_data_and_consent(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    contracts.link_contract(sqlite_backend, token, {
        "number": "431177", "birth_date": "05.10.2000", "last_name": "Musterjobber",
        "postal_code": "34117"}, Caller())
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, token)
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
    token = login_token(sqlite_backend, "amueller")
    contracts.link_contract(sqlite_backend, token, {
        "number": "431177", "birth_date": "05.10.2000", "last_name": "Musterjobber",
        "postal_code": "34117"}, Caller())
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, token)
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
        await start(pilot, token)
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
    token = login_token(sqlite_backend, "amueller")
    contracts.link_contract(sqlite_backend, token, {
        "number": "431177", "birth_date": "05.10.2000", "last_name": "Musterjobber",
        "postal_code": "34117"}, Caller())
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, token)
        assert rows(app, "contracts-active")[0][1:5] == ["unbefristet", "431177", "", "AKTIV"]
        await pilot.press("f2")
        await settle(pilot)
        assert rows(app, "contracts-active")[0][:5] == [
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
            await start(pilot, login_token(sqlite_backend, "amueller"))
            intro = text(app, ".form-intro")
            assert expected in intro and absent not in intro
