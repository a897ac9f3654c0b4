"""Pilot flows of "Kundennummern zusammenführen": the happy path with highlighted rows, the
blocked merge after a customer-number login, the wrong proof, the password re-entry."""

from __future__ import annotations

from pathlib import Path

from pilot import app_for, login_token, open_screen, press_button, settle, text
from sqlalchemy import select
from textual.widgets import DataTable, Input
from welcome_helpers import make_customer

from db.models import Customer, MergeOrder, SupportRequest
from screens.merge import MARK_BLOCKS, MARK_DIFFERS, MergeReauthDialog, MergeScreen
from services import customer_login, sessions
from services.caller import Caller
from services.demo import load_demo

SIZE = (110, 40)
PW = {"200002": "Leuchtturm-Sylt-Moewe-17", "200003": "Brezelkorb-Neckar-Turm-9",
      "200004": "Schlossberg-Fluss-Nebel-31"}


async def proof(pilot, number: str, credential: str) -> None:
    screen = pilot.app.screen
    screen.query_one("#merge-other-number", Input).value = number
    screen.query_one("#merge-credential", Input).value = credential
    screen.query_one("#merge-next").press()
    await settle(pilot)


def diff_rows(app) -> dict[str, list[str]]:
    table = app.screen.query_one("#merge-diff", DataTable)
    return {str(key.value): [str(c) for c in table.get_row(key)] for key in table.rows}


def row_style(app, field: str) -> str:
    table = app.screen.query_one("#merge-diff", DataTable)
    return str(table.get_row(field)[2].style or table.get_row(field)[2].spans[0].style)


async def test_happy_path_highlights_and_merges(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, MergeScreen(), token)
        screen = app.screen
        assert screen.query_one("#merge-keep").value == "200001"  # preselected: only one
        assert "200001" in text(app, "#merge-keep-note")
        assert "beibehalten" in text(app, "#merge-keep-note")
        await proof(pilot, "200002", PW["200002"])
        rows = diff_rows(app)
        assert rows["street"][0] == MARK_DIFFERS and "Schadowstraße 44" in rows["street"][3]
        assert rows["last_name"][0] == "" and rows["city"][0] == ""
        assert "yellow" in row_style(app, "street")
        assert screen.query_one("#merge-take-over").display
        assert not screen.query_one("#merge-blocked").display
        screen.query_one("#merge-take-over").press()
        await settle(pilot)
        confirmation = text(app, "#merge-confirmation")
        assert "200002" in confirmation and "200001" in confirmation
        assert screen.query_one("#merge-step-done").display
        assert not screen.query_one("#merge-register").display  # an account: no offer
        screen.query_one("#merge-again").press()
        await settle(pilot)
        assert screen.query_one("#merge-step-numbers").display
        assert screen.query_one("#merge-other-number", Input).value == ""
    with sqlite_backend.transaction() as db:
        merged = db.scalars(select(Customer).where(Customer.number == "200002")).one()
        assert merged.merged_into_id is not None
        assert db.scalars(select(MergeOrder)).one().take_over


async def test_blocked_after_customer_number_login(sqlite_backend, tmp_path) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_flow("login")
        await settle(pilot)
        app.screen.query_one("#login-identifier", Input).value = "200003"
        app.screen.query_one("#login-password", Input).value = PW["200003"]
        await press_button(pilot, "#login-submit")
        screen = app.screen
        assert isinstance(screen, MergeScreen)
        assert sessions.is_customer_session(sqlite_backend, app.session_token)
        keep = screen.query_one("#merge-keep")
        assert keep.value == "200003" and keep.disabled
        await proof(pilot, "200004", PW["200004"])
        rows = diff_rows(app)
        assert rows["last_name"][0] == MARK_BLOCKS
        assert "Becker" in rows["last_name"][3] and "Bäcker" in rows["last_name"][2]
        assert screen.query_one("#merge-blocked").display
        assert not screen.query_one("#merge-actions").display  # no merge button
        assert "Vertragsübergabe" in str(screen.query_one(".merge-blocked-text").render())
        assert "Kundenservice" in text(app, "#merge-blocked-reference")
        screen.query_one("#merge-form-save").press()
        await settle(pilot)
        notice = text(app, "#merge-notice")
        path = Path(notice.split(" unter ", 1)[1].split(" gespeichert")[0])
        assert path.read_bytes().startswith(b"%PDF")
        screen.query_one("#merge-form-mail").press()  # 200003 has no e-mail address
        await settle(pilot)
        assert "keine E-Mail-Adresse" in text(app, "#form-error")
    with sqlite_backend.transaction() as db:
        request = db.scalars(select(SupportRequest)).one()
        assert request.kind == "merge_blocked" and request.account_id is None


async def test_wrong_proof_shows_nothing_of_the_other_record(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, MergeScreen(), token)
        await proof(pilot, "200002", "Leuchtturm-falsch")
        error = text(app, "#form-error")
        assert "do not match" in error
        assert "Schadow" not in error and "Anna" not in error
        assert app.screen.query_one("#merge-step-numbers").display
        assert not app.screen.query_one("#merge-step-diff").display
        assert app.screen.query_one("#merge-diff", DataTable).row_count == 0
        assert app.screen.query_one("#merge-credential", Input).value == ""
        # empty fields are marked beside the field
        await proof(pilot, "", "")
        assert "must not be empty" in text(app, "#merge-other-number-error")


async def test_password_is_asked_again_after_five_minutes(sqlite_backend, clock) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    for _ in range(4):
        clock.advance(seconds=90)
        sessions.current(sqlite_backend, token)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, MergeScreen(), token)
        assert isinstance(app.screen, MergeReauthDialog)
        app.screen.query_one("#reauth-password", Input).value = "falsch"
        await press_button(pilot, "#reauth-submit")
        assert isinstance(app.screen, MergeReauthDialog)
        app.screen.query_one("#reauth-password", Input).value = "Sonnenblume-Kassel-2026"
        await press_button(pilot, "#reauth-submit")
        assert isinstance(app.screen, MergeScreen)
        assert app.screen.query_one("#merge-keep").value == "200001"


async def test_customer_session_merge_offers_an_account(sqlite_backend) -> None:
    hashed = sqlite_backend.hasher.hash("Kundenpasswort-Eins-2026")
    for number in ("710001", "710002"):
        make_customer(sqlite_backend, number, last_name="Neumann", first_name="Ida",
                      postal_code="10115", password_hash=hashed)
    token = customer_login.login(sqlite_backend, "710001", "Kundenpasswort-Eins-2026",
                                 Caller()).token
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, MergeScreen(customer_login=True), token)
        await proof(pilot, "710002", "Kundenpasswort-Eins-2026")
        assert all(row[0] == "" for row in diff_rows(app).values())
        await pilot.press("escape")  # from the comparison back to the numbers
        await settle(pilot)
        assert app.screen.query_one("#merge-step-numbers").display
        await proof(pilot, "710002", "Kundenpasswort-Eins-2026")
        await press_button(pilot, "#merge-submit")
        assert app.screen.query_one("#merge-register").display
        assert "710002" in text(app, "#merge-confirmation")
        await press_button(pilot, "#merge-register")
        assert app.screen.query_one("#register-username")
        assert app.session_token is None
    assert not sessions.is_customer_session(sqlite_backend, token)


async def test_empty_fields_say_so_and_the_cursor_goes_to_the_first(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, MergeScreen(), token)
        app.screen.query_one("#merge-credential", Input).value = "geheim"
        await press_button(pilot, "#merge-next")
        assert text(app, "#merge-other-number-error") == "Das Feld darf nicht leer bleiben"
        assert text(app, "#merge-credential-error") == ""
        assert app.focused is app.screen.query_one("#merge-other-number")
        await pilot.press(*"200002", "enter")
        assert app.focused is app.screen.query_one("#merge-credential")
