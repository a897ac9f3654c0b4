"""#15 second factor through Pilot: an agent enrols and logs in with the code, a customer
turns it on in "Meine Einstellungen" and logs in at a kiosk with it (the idle wipe ends the
code step); SVG snapshots of the enrolment screen (de, en, high contrast, fixed secret).
Update: ``pytest tests/test_second_factor_screens.py --snapshot-update``."""

from __future__ import annotations

import asyncio

import pytest
from pilot import (
    DEMO_PASSWORDS,
    app_for,
    confirm,
    enrol_on_screen,
    login_token,
    new_agent,
    open_as,
    open_desk,
    open_screen,
    run_command,
    settle,
    switch_tab,
    text,
)
from sqlalchemy import select
from textual.pilot import Pilot

from db.models import Session
from screens.backoffice.desk import DeskScreen
from screens.backoffice.login import AgentLoginScreen
from screens.home import HomeScreen
from screens.login import LoginScreen
from screens.settings import SettingsScreen
from screens.totp import RecoveryCodesScreen, TotpCodeScreen, TotpEnrolScreen
from screens.welcome import WelcomeScreen
from services import accounts, second_factor
from services.agents import create_agent
from services.caller import Caller
from services.demo import load_demo

SIZE = (110, 40)
AGENT_PW = "Schreibtisch-Kaffee-Leuchte-77"
SUPER_PW = "Aktenschrank-Morgen-Fenster-88"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def _login(pilot: Pilot, screen_type: type, prefix: str, user: str, password: str
                 ) -> None:
    app = pilot.app
    assert isinstance(app.screen, screen_type)
    app.screen.query_one(f"#{prefix}-identifier").value = user
    app.screen.query_one(f"#{prefix}-password").value = password
    await pilot.click(f"#{prefix}-submit")
    await settle(pilot)


async def test_agent_enrols_then_logs_in_with_the_code(sqlite_backend, clock):
    load_demo(sqlite_backend)
    create_agent(sqlite_backend, "desk_agent", "agent", AGENT_PW)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+b")
        await settle(pilot)
        await _login(pilot, AgentLoginScreen, "agent", "desk_agent", AGENT_PW)
        assert isinstance(app.screen, TotpEnrolScreen)
        assert "Kundenkiosk: desk_agent" in text(app, "#totp-enrol-account")
        assert "█" in text(app, "#totp-enrol-qr")
        secret = text(app, "#totp-enrol-secret").replace(" ", "")
        app.screen.query_one("#totp-enrol-code").value = "000000"  # wrong: stays here
        await pilot.click("#totp-enrol-submit")
        await settle(pilot)
        assert isinstance(app.screen, TotpEnrolScreen)
        assert text(app, "#totp-enrol-code-error")
        codes = await enrol_on_screen(pilot, sqlite_backend)
        assert len(codes) == 10
        assert isinstance(app.screen, DeskScreen)
        app.logout()
        await settle(pilot)
        clock.advance(seconds=30)
        await pilot.press("ctrl+b")
        await settle(pilot)
        await _login(pilot, AgentLoginScreen, "agent", "desk_agent", AGENT_PW)
        assert isinstance(app.screen, TotpCodeScreen)
        app.screen.query_one("#totp-code").value = second_factor.code_at(
            secret, sqlite_backend.now())
        await pilot.click("#totp-submit")
        await settle(pilot)
        assert isinstance(app.screen, DeskScreen)
        app.logout()
        await settle(pilot)
        # a recovery code instead; the notification tells how many are left
        await pilot.press("ctrl+b")
        await settle(pilot)
        await _login(pilot, AgentLoginScreen, "agent", "desk_agent", AGENT_PW)
        await pilot.click("#totp-use-recovery")
        await settle(pilot)
        assert "Wiederherstellungscode" in text(app, "#totp-code-intro")
        app.screen.query_one("#totp-code").value = codes[0]
        await pilot.click("#totp-submit")
        await settle(pilot)
        assert isinstance(app.screen, DeskScreen)
        assert any("9 Wiederherstellungscodes" in str(n.message)
                   for n in app._notifications)
        await run_command(pilot, "Neue Wiederh")  # the agent's own new recovery codes
        assert isinstance(app.screen, RecoveryCodesScreen)
        fresh = text(app, "#totp-recovery-codes")
        assert len(fresh.splitlines()) == 10 and codes[1] not in fresh
        await pilot.click("#totp-recovery-done")
        await settle(pilot)
        assert isinstance(app.screen, DeskScreen)


async def test_customer_turns_it_on_and_logs_in_at_the_kiosk(sqlite_backend, clock):
    load_demo(sqlite_backend)
    app = app_for(sqlite_backend, kiosk_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "kkoehler", SettingsScreen())
        await switch_tab(pilot, "settings-tabs", "settings-tab-totp")
        assert "empfehlen" in text(app, "#settings-totp-recommended")  # an org super admin
        await pilot.click("#settings-totp-enable")
        await settle(pilot)
        assert isinstance(app.screen, TotpEnrolScreen)
        secret = text(app, "#totp-enrol-secret").replace(" ", "")
        await enrol_on_screen(pilot, sqlite_backend)
        assert isinstance(app.screen, SettingsScreen)
        assert "eingeschaltet" in text(app, "#settings-totp-status")
        app.logout()
        await settle(pilot)
        clock.advance(seconds=30)
        app.push_screen(LoginScreen())
        await settle(pilot)
        await _login(pilot, LoginScreen, "login", "kkoehler", DEMO_PASSWORDS["kkoehler"])
        assert isinstance(app.screen, TotpCodeScreen)
        app.screen.query_one("#totp-code").value = "123456"
        await pilot.click("#totp-submit")
        await settle(pilot)
        # shown once, beside the field (issue 19 item 10)
        assert "Code" in (text(app, "#totp-code-error") or text(app, "#form-error"))
        app.screen.query_one("#totp-code").value = second_factor.code_at(
            secret, sqlite_backend.now())
        await pilot.pause(0.3)
        await pilot.click("#totp-submit")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        # new recovery codes, then off with the password and a code
        await open_screen(pilot, SettingsScreen())
        await switch_tab(pilot, "settings-tabs", "settings-tab-totp")
        await pilot.click("#settings-totp-recovery")
        await settle(pilot)
        assert isinstance(app.screen, RecoveryCodesScreen)
        assert len(text(app, "#totp-recovery-codes").splitlines()) == 10
        await pilot.click("#totp-recovery-done")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        await pilot.click("#settings-totp-disable")
        await settle(pilot)
        clock.advance(seconds=30)
        app.screen.query_one("#totp-disable-password").value = DEMO_PASSWORDS["kkoehler"]
        app.screen.query_one("#totp-disable-code").value = "000000"
        await pilot.click("#totp-disable-submit")
        await settle(pilot)
        assert text(app, "#totp-disable-code-error") or text(app, "#form-error")
        app.screen.query_one("#totp-disable-password").value = DEMO_PASSWORDS["kkoehler"]
        app.screen.query_one("#totp-disable-code").value = second_factor.code_at(
            secret, sqlite_backend.now())
        await pilot.pause(0.3)
        await pilot.click("#totp-disable-submit")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        assert "ausgeschaltet" in text(app, "#settings-totp-status")


async def test_the_idle_wipe_ends_the_code_step(sqlite_backend):
    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "kkoehler")
    enrolment = second_factor.begin_enrolment(sqlite_backend, token, secret=SECRET)
    second_factor.confirm_enrolment(sqlite_backend, token,
                                    second_factor.code_at(SECRET, sqlite_backend.now()),
                                    Caller())
    from tui.app import KioskApp

    app = KioskApp(backend=sqlite_backend, kiosk_mode=True, cursor_blink=False,
                   idle_timeout=600, idle_warning=1.0, idle_tick=0.05)
    async with app.run_test(size=SIZE) as pilot:
        pending = accounts.login(sqlite_backend, "kkoehler", DEMO_PASSWORDS["kkoehler"],
                                 Caller())
        app.set_session(pending.token)
        code_screen = TotpCodeScreen(lambda _r: None, lambda: None)
        await app.push_screen(code_screen)
        field = code_screen.query_one("#totp-code")
        field.value = "12"
        assert code_screen in app.screen_stack  # typed before the wipe
        app.idle_timeout = 3.0  # short only now: a loaded machine may stall while logging in
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while code_screen in app.screen_stack or not isinstance(app.screen, WelcomeScreen):
            assert loop.time() < deadline, "the wipe did not come"
            await pilot.pause(0.05)
        assert app.session_token is None
        assert field.value == ""
    with sqlite_backend.transaction() as db:
        ended = db.scalars(select(Session.ended_at).where(
            Session.second_factor == "code")).all()
    assert ended and all(ended)
    assert enrolment.secret == SECRET


async def test_supervisor_resets_an_agent_from_the_palette(sqlite_backend, clock):
    from screens.backoffice.dialogs import ConfirmDialog, InputDialog

    new_agent(sqlite_backend, "desk_agent", "agent", AGENT_PW)
    boss = new_agent(sqlite_backend, "desk_chefin", "supervisor", SUPER_PW)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot, boss)
        await run_command(pilot, "Zweiten Faktor")
        assert isinstance(app.screen, InputDialog)
        app.screen.query_one("#reset2fa-name").value = "desk_chefin"  # their own: refused
        await pilot.click("#reset2fa-name-submit")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await confirm(pilot)
        assert isinstance(app.screen, DeskScreen)
        assert any("eigenen" in str(n.message) for n in app._notifications)
        assert accounts.login_agent(sqlite_backend, "desk_agent", AGENT_PW,
                                    Caller()).second_factor == "code"
        await app.run_action("screen.reset_2fa")
        await settle(pilot)
        app.screen.query_one("#reset2fa-name").value = "desk_agent"
        await pilot.click("#reset2fa-name-submit")
        await settle(pilot)
        assert "desk_agent" in text(app, "#confirm-question")
        await confirm(pilot)
        assert any("wurde zurückgesetzt" in str(n.message) for n in app._notifications)
    assert accounts.login_agent(sqlite_backend, "desk_agent", AGENT_PW,
                                Caller()).second_factor == "enrol"


async def test_f1_explains_enrolment_and_a_lost_phone(sqlite_backend):
    from textual.widgets import Markdown

    from screens.help import HelpScreen

    app = _enrol_app(sqlite_backend, "de", False)
    async with app.run_test(size=SIZE) as pilot:
        await _open_enrolment(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen) and app.screen.article == "second-factor"
        assert "Zweiter Faktor einrichten" in app.screen.query_one(Markdown).source
        await pilot.press("f2")
        await settle(pilot)
        assert "Setting up the second factor" in app.screen.query_one(Markdown).source
        await pilot.press("escape")
        await settle(pilot)
        await open_screen(pilot, TotpCodeScreen(lambda _r: None, lambda: None))
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen) and app.screen.article == "lost-phone"
        assert "recovery code" in app.screen.query_one(Markdown).source


# --------------------------------------------------------------------------- snapshots

VARIANTS = [pytest.param("de", False, id="de"), pytest.param("en", False, id="en"),
            pytest.param("de", True, id="high-contrast")]


def _enrol_app(backend, language: str, high_contrast: bool):
    create_agent(backend, "desk_agent", "agent", AGENT_PW)
    pending = accounts.login_agent(backend, "desk_agent", AGENT_PW, Caller())
    app = app_for(backend, language=language, high_contrast=high_contrast)
    app.set_session(pending.token)
    return app


async def _open_enrolment(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.app.push_screen(TotpEnrolScreen(lambda _r: None, lambda: None,
                                                mandatory=True, secret=SECRET))
    await settle(pilot)


async def _open_recovery(pilot: Pilot) -> None:
    await settle(pilot)
    codes = [f"ACDE{n}-FGHJK" for n in range(3, 10)] + ["MNPQR-TUVWX", "Y3467-9ACDE",
                                                         "FGHJK-MNPQR"]
    await open_screen(pilot, RecoveryCodesScreen(codes, lambda: None))


@pytest.mark.parametrize(("language", "high_contrast"), VARIANTS)
def test_enrolment_screen(snap_compare, sqlite_backend, language, high_contrast) -> None:
    assert snap_compare(_enrol_app(sqlite_backend, language, high_contrast),
                        terminal_size=SIZE, run_before=_open_enrolment)


@pytest.mark.parametrize(("language", "high_contrast"), VARIANTS[:2])
def test_recovery_codes_screen(snap_compare, sqlite_backend, language, high_contrast) -> None:
    assert snap_compare(_enrol_app(sqlite_backend, language, high_contrast),
                        terminal_size=SIZE, run_before=_open_recovery)
