"""Pilot tests of data protection (#16): "Meine Daten herunterladen" (files, and mailed in kiosk
mode), "Benutzerkonto löschen" (what happens, the password, the last-super-admin rule), the
offer to cancel at login, the link in the mail (``kiosk serve``) and the desk's queue."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient, TestServer
from pilot import (
    DEMO_PASSWORDS,
    agent_login,
    app_for,
    login_token,
    open_as,
    open_desk,
    open_screen,
    press_button,
    settle,
    switch_tab,
    text,
)
from sqlalchemy import select
from test_serve_links import hidden_fields
from textual.widgets import Input
from textual.worker import WorkerCancelled

from db.models import Account, AccountDeletion, OutboxMail
from screens.home import HomeScreen
from screens.login import LoginScreen
from screens.privacy import CancelDeletionDialog, DeleteAccountScreen, ExportDialog
from screens.settings import SettingsScreen
from screens.welcome import WelcomeScreen
from services.demo import load_demo
from tui.serve import ServeOptions, kiosk_server

SIZE = (110, 40)
DESK_PW = "ein langer Satz für den Schalter 2026"


async def _settings(pilot, backend, user: str) -> None:
    """Open "Meine Einstellungen" as the demo customer ``user``, at the privacy tab."""
    await open_as(pilot, user, SettingsScreen())
    await switch_tab(pilot, "settings-tabs", "settings-tab-privacy")


def _account(backend, user: str) -> Account:
    with backend.transaction() as db:
        row = db.scalars(select(Account).where(Account.username == user)).one()
        db.expunge(row)
        return row


async def _password(pilot, value: str) -> None:
    pilot.app.screen.query_one("#reauth-password", Input).value = value
    await pilot.press("enter")
    await settle(pilot)


async def test_export_asks_the_password_and_writes_both_files(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await _settings(pilot, sqlite_backend, "amueller")
        await press_button(pilot, "#settings-export-data")
        assert isinstance(app.screen, ExportDialog)
        await _password(pilot, "falsch-falsch-falsch")
        assert "nicht korrekt" in text(app, "#reauth-password-error")
        await _password(pilot, DEMO_PASSWORDS["amueller"])
        assert isinstance(app.screen, SettingsScreen)
        notice = text(app, "#settings-notice")
        assert "gespeichert" in notice
        files = sorted(sqlite_backend.settings.resolved_export_dir.glob("meine-daten-*"))
        assert [f.suffix for f in files] == [".json", ".pdf"]
        assert str(files[0]) in notice.replace("\n", "")
        data = json.loads(Path(files[0]).read_text("utf-8"))
        assert data["account"]["username"] == "amueller"
        # once an hour: the second try says how long to wait
        await press_button(pilot, "#settings-export-data")
        await _password(pilot, DEMO_PASSWORDS["amueller"])
        assert "einmal pro Stunde" in text(app, "#form-error")


async def test_export_in_kiosk_mode_is_mailed_not_saved(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend, kiosk_mode=True, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await _settings(pilot, sqlite_backend, "eneu")
        assert "e-mail address" in text(app, "#settings-export-kiosk")
        await press_button(pilot, "#settings-export-data")
        await _password(pilot, DEMO_PASSWORDS["eneu"])
        assert "erika.neu@example.de" in text(app, "#settings-notice")
    assert not list(sqlite_backend.settings.resolved_export_dir.glob("*")) \
        if sqlite_backend.settings.resolved_export_dir.exists() else True
    with sqlite_backend.transaction() as db:
        sent = db.scalars(select(OutboxMail).where(OutboxMail.template == "data_export")).one()
    assert sent.to == "erika.neu@example.de" and sent.attachment_name.endswith(".zip")


async def test_delete_says_what_happens_then_login_offers_to_cancel(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await _settings(pilot, sqlite_backend, "amueller")
        await press_button(pilot, "#settings-delete-account")
        assert isinstance(app.screen, DeleteAccountScreen)
        steps = text(app, "#delete-steps")
        assert "gesperrt" in steps and "14 Tage" in steps and "freigegeben" in steps
        assert "200001" in text(app, "#delete-links")
        await press_button(pilot, "#delete-cancel")
        assert isinstance(app.screen, SettingsScreen)
        await press_button(pilot, "#settings-delete-account")
        await press_button(pilot, "#delete-confirm")
        assert text(app, "#reauth-password-error")  # empty
        await _password(pilot, "falsch-falsch-falsch")
        assert "nicht korrekt" in text(app, "#reauth-password-error")
        assert _account(sqlite_backend, "amueller").status == "active"
        await _password(pilot, DEMO_PASSWORDS["amueller"])
        assert isinstance(app.screen, WelcomeScreen) and app.session_token is None
        assert _account(sqlite_backend, "amueller").status == "deletion_pending"
        # logging in again offers to cancel the deletion
        await open_screen(pilot, LoginScreen())
        app.screen.query_one("#login-identifier", Input).value = "amueller"
        app.screen.query_one("#login-password", Input).value = DEMO_PASSWORDS["amueller"]
        await press_button(pilot, "#login-submit")
        assert isinstance(app.screen, CancelDeletionDialog), text(app, "#form-error")
        await press_button(pilot, "#deletion-keep")
        assert isinstance(app.screen, LoginScreen) and app.session_token is None
        app.screen.query_one("#login-password", Input).value = DEMO_PASSWORDS["amueller"]
        await press_button(pilot, "#login-submit")
        await press_button(pilot, "#deletion-cancel-submit")
        assert isinstance(app.screen, HomeScreen) and app.session_token
    assert _account(sqlite_backend, "amueller").status == "active"


async def test_cancelling_at_login_asks_the_second_factor_too(sqlite_backend, clock) -> None:
    """An account with a second factor: after the password comes the code step, as always; a
    wrong code is refused there; the right one offers the cancellation, which logs in at
    once. Keeping the deletion instead ends the pending session."""
    from screens.totp import TotpCodeScreen
    from services import privacy, second_factor
    from services.caller import Caller

    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "amueller")
    secret = second_factor.new_secret()
    second_factor.begin_enrolment(sqlite_backend, token, secret=secret)
    second_factor.confirm_enrolment(sqlite_backend, token,
                                    second_factor.code_at(secret, sqlite_backend.now()), Caller())
    privacy.request_deletion(sqlite_backend, token, DEMO_PASSWORDS["amueller"], Caller())
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        for keep in (True, False):
            clock.advance(minutes=1)  # a fresh step: a code is used once
            await app.push_screen(LoginScreen())
            await settle(pilot)
            app.screen.query_one("#login-identifier", Input).value = "amueller"
            app.screen.query_one("#login-password", Input).value = DEMO_PASSWORDS["amueller"]
            app.screen.query_one("#login-submit").press()
            await settle(pilot)
            assert isinstance(app.screen, TotpCodeScreen)
            right = second_factor.code_at(secret, sqlite_backend.now())
            await pilot.press(*f"{(int(right) + 500000) % 1000000:06d}", "enter")
            await settle(pilot)
            assert isinstance(app.screen, TotpCodeScreen)
            assert "nicht korrekt" in text(app, "#totp-code-error")
            await pilot.press(*right, "enter")
            await settle(pilot)
            assert isinstance(app.screen, CancelDeletionDialog)
            assert _account(sqlite_backend, "amueller").status == "deletion_pending"
            if keep:
                app.screen.query_one("#deletion-keep").press()
                await settle(pilot)
                assert not isinstance(app.screen, (CancelDeletionDialog, TotpCodeScreen))
                assert app.session_token is None
                assert _account(sqlite_backend, "amueller").status == "deletion_pending"
                continue
            app.screen.query_one("#deletion-cancel-submit").press()
            await settle(pilot)
            assert isinstance(app.screen, HomeScreen) and app.session_token
    assert _account(sqlite_backend, "amueller").status == "active"


async def test_last_super_admin_sees_why_and_cannot_confirm(sqlite_backend) -> None:
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await _settings(pilot, sqlite_backend, "kkoehler")
        await press_button(pilot, "#settings-delete-account")
        assert app.screen.query_one("#delete-confirm").disabled
        assert "only super admin of Praxis Dr. Köhler GmbH" in text(app, "#form-error")
        await _password(pilot, DEMO_PASSWORDS["kkoehler"])
        assert isinstance(app.screen, DeleteAccountScreen)
    assert _account(sqlite_backend, "kkoehler").status == "active"


async def test_cancel_link_in_the_mail_keeps_the_account(sqlite_backend) -> None:
    from services import privacy
    from services.caller import Caller

    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "eneu")
    privacy.request_deletion(sqlite_backend, token, DEMO_PASSWORDS["eneu"], Caller())
    with sqlite_backend.transaction() as db:
        sent = db.scalars(select(OutboxMail).where(
            OutboxMail.template == "account_deletion_scheduled")).one()
        path = urlsplit(sent.params["link"]).path
    assert path.startswith("/cancel-deletion/") and sent.params["link"] in sent.body
    app = await kiosk_server(ServeOptions(), sqlite_backend).web_app()
    async with TestClient(TestServer(app)) as client:
        page = await (await client.get(path)).text()
        assert "Löschung abbrechen" in page
        assert _account(sqlite_backend, "eneu").status == "deletion_pending"  # GET: no effect
        done = await client.post(f"{path}?lang=en", data=hidden_fields(page))
        assert done.status == 200 and "cancelled" in await done.text()
        again = await client.post(path, data=hidden_fields(page))
        assert again.status == 410
    assert _account(sqlite_backend, "eneu").status == "active"
    with sqlite_backend.transaction() as db:
        assert db.scalars(select(AccountDeletion.state)).one() == "cancelled"


async def test_desk_export_and_four_eyes_deletion_through_the_queue(sqlite_backend) -> None:
    from screens.backoffice.customer import AccountScreen
    from services import agents, privacy
    from services.caller import Caller

    load_demo(sqlite_backend)
    agents.create_agent(sqlite_backend, "desk.anna", "agent", DESK_PW)
    agents.create_agent(sqlite_backend, "desk.ida", "supervisor", DESK_PW)
    eneu = _account(sqlite_backend, "eneu")

    async def as_agent(app, pilot, name: str) -> None:
        result = agent_login(sqlite_backend, name, DESK_PW, Caller())
        await open_desk(pilot, result)

    async def note(pilot, value: str) -> None:
        pilot.app.screen.query_one("#note-text", Input).value = value
        pilot.app.screen.query_one("#note-submit").press()
        for _ in range(5):  # a newer queue load may cancel an older one while we wait
            try:
                await settle(pilot)
                return
            except WorkerCancelled:
                continue

    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await as_agent(app, pilot, "desk.anna")
        await open_screen(pilot, AccountScreen(eneu.id))
        await pilot.press("e")
        await settle(pilot)
        await note(pilot, "Personalausweis geprüft")
        await pilot.press("d")
        await settle(pilot)
        await note(pilot, "Personalausweis geprüft")
        assert _account(sqlite_backend, "eneu").status == "active"  # waits for a supervisor
    with sqlite_backend.transaction() as db:
        exported = db.scalars(select(OutboxMail).where(OutboxMail.template == "data_export")).one()
    assert exported.to == "erika.neu@example.de"  # to the account, never on the desk's screen
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await as_agent(app, pilot, "desk.ida")
        await pilot.press("f6")
        await settle(pilot)
        queues = app.screen.query_one("#desk-queues")
        queues.move_cursor(row=list(queues.rows).index(
            next(k for k in queues.rows if k.value == privacy.KIND_PRIVACY)))
        await settle(pilot)
        items = app.screen.query_one("#desk-queue-items")
        assert items.row_count == 1
        assert "Datenschutz" in str(queues.get_row_at(queues.cursor_row)[0])
        items.focus()
        await pilot.press("ctrl+r")
        await settle(pilot)
        await note(pilot, "bestätigt")
        assert items.row_count == 0
    assert _account(sqlite_backend, "eneu").status == "deletion_pending"
