"""Pilot tests of the app shell: language, kiosk mode, idle wipe, help and feedback."""

from __future__ import annotations

import asyncio

import pytest
from babel.messages.pofile import read_po
from pilot import open_screen, palette_hits
from textual.app import ComposeResult
from textual.widgets import Button, Input, Label, Markdown, RadioButton, TextArea

from screens.help import ARTICLES, HELP_DIR, HelpScreen
from screens.welcome import WelcomeScreen
from screens.widgets import Field, FormError, KioskScreen, plain, show_domain_error
from services.errors import Conflict, StorageUnavailable, ValidationFailed
from services.feedback import list_feedback, submit_feedback
from services.i18n import LOCALE_DIR, translate
from tui.app import IdleWarning, KioskApp
from tui.commands import kiosk_commands

SIZE = (100, 30)


class FormScreen(KioskScreen):
    """A stand-in for a later flow: one field, a general error, a help article."""

    HELP_ARTICLE = "merge"

    def compose(self) -> ComposeResult:
        yield Field("Comment (optional)", Input(id="test-name"), required=True)
        yield FormError()
        yield Label(plain("[b]Müller[/b] & [red]Co[/]"), id="test-record")


def make_app(backend, **kwargs) -> KioskApp:
    return KioskApp(backend=backend, **kwargs)


async def wait_for(pilot, predicate, timeout: float = 8.0) -> None:
    """Poll (the idle timer runs on real time) until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


def text_of(app: KioskApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_german_by_default_then_english(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        assert "Willkommen am Kundenkiosk" in text_of(app, "#welcome-title")
        assert "Anmelden" in text_of(app, "#welcome-login")
        assert "Noch kein Benutzer?" in text_of(app, "#welcome-org-register")
        assert "English" in text_of(app, "#welcome-language")
        assert app.active_bindings["f1"].binding.description == "Hilfe"

        await pilot.press("f2")
        await pilot.pause()
        assert app.language == "en"
        assert app.caller.language == "en"
        assert "Welcome to the customer kiosk" in text_of(app, "#welcome-title")
        assert "Log in" in text_of(app, "#welcome-login")
        assert "Deutsch" in text_of(app, "#welcome-language")
        assert app.active_bindings["f1"].binding.description == "Help"

        await pilot.click("#welcome-language")
        await pilot.pause()
        assert app.language == "de"
        assert "Willkommen am Kundenkiosk" in text_of(app, "#welcome-title")


async def test_language_switch_refreshes_pushed_screens(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(FormScreen())
        await pilot.pause()
        assert "Kommentar (optional) *" in str(app.screen.query_one(".field-label").render())
        await pilot.press("f2")
        await pilot.pause()
        assert "Comment (optional) *" in str(app.screen.query_one(".field-label").render())


async def test_kiosk_mode_ignores_quit_keys(sqlite_backend) -> None:
    app = make_app(sqlite_backend, kiosk_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q", "ctrl+c", "escape")
        await pilot.pause()
        assert app.is_running
        assert isinstance(app.screen, WelcomeScreen)
        assert "ctrl+q" not in app.active_bindings
        titles = [title for title, _cb, _help in kiosk_commands(app)]
        assert "Hilfe" in titles and "Anmelden" in titles
        assert "Beenden" not in titles


async def test_outside_kiosk_mode_ctrl_q_quits(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        titles = [title for title, _cb, _help in kiosk_commands(app)]
        assert "Beenden" in titles
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0
    assert not app.is_running


async def test_command_palette_offers_customer_actions(sqlite_backend) -> None:
    app = make_app(sqlite_backend, kiosk_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.id == "--command-palette"
        await pilot.press(*"Hilfe")
        assert await palette_hits(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_idle_warning_any_key_cancels(sqlite_backend) -> None:
    app = make_app(sqlite_backend, kiosk_mode=True, idle_timeout=4.0, idle_warning=3.7,
                   idle_tick=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, IdleWarning))
        await pilot.pause()
        assert "Sind Sie noch da?" in text_of(app, "#idle-title")
        assert "Sekunden" in text_of(app, "#idle-countdown")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        assert app._warning is None


async def test_idle_wipe_returns_to_welcome_and_clears_inputs(sqlite_backend) -> None:
    # A long timeout while the form is filled (a loaded CI machine may stall for a second
    # between two keys, and a key that wakes the kiosk from the warning types nothing);
    # the short one once the field holds its text.
    app = make_app(sqlite_backend, kiosk_mode=True, idle_timeout=600, idle_warning=0.5,
                   idle_tick=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")  # English; the wipe restores the start language
        form = FormScreen()
        app.push_screen(form)
        await pilot.pause()
        app.session_token = "token-123"
        field = form.query_one("#test-name", Input)
        field.focus()
        await pilot.press(*"geheim")
        assert field.value == "geheim"
        app.idle_timeout = 1.5
        old_welcome = app.screen_stack[1]
        await wait_for(pilot, lambda: not app._wiping and form not in app.screen_stack
                       and isinstance(app.screen, WelcomeScreen) and app.screen is not old_welcome)
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        assert len(app.screen_stack) == 2
        assert form not in app.screen_stack
        assert field.value == ""
        assert app.session_token is None
        assert app.language == "de"
        assert not app.screen.query(Input)


async def test_f1_opens_help_for_current_screen(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.article == "welcome"
        assert "War dieser Artikel hilfreich?" in text_of(app, "#help-question")
        await pilot.press("escape")
        await pilot.pause()
        app.push_screen(FormScreen())
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.article == "merge"
        markdown = app.screen.query_one("#help-article", Markdown)
        assert "Kundennummern zusammenführen" in markdown.source
        await pilot.press("f2")
        await pilot.pause()
        assert "Merge customer numbers" in app.screen.query_one("#help-article", Markdown).source


async def test_feedback_no_with_reason_and_comment_is_stored(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        help_screen = app.screen
        assert not help_screen.query_one("#help-reasons").display
        help_screen.query_one("#help-no", Button).press()
        await pilot.pause()
        assert help_screen.query_one("#help-reasons").display
        assert "Tut uns leid" in text_of(app, "#help-sorry")
        assert "Informationen fehlerhaft" in str(
            help_screen.query_one("#help-reason-wrong", RadioButton).label)
        help_screen.query_one("#help-reason-not_my_problem", RadioButton).value = True
        comment = help_screen.query_one("#help-comment", TextArea)
        comment.focus()
        await pilot.press(*"Kein Wort zu [b]Lizenzen[/b]")
        help_screen.query_one("#help-send", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert help_screen.query_one("#help-thanks").display
        assert "Vielen Dank für Ihr Feedback!" in text_of(app, "#help-thanks")
    stored = list_feedback(sqlite_backend, article="welcome")
    assert len(stored) == 1
    assert stored[0].helpful is False
    assert stored[0].reason == "not_my_problem"
    assert stored[0].comment == "Kein Wort zu [b]Lizenzen[/b]"
    assert stored[0].language == "de"
    assert stored[0].terminal_id == "test-terminal"


async def test_feedback_no_without_reason_asks_for_one(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        app.screen.query_one("#help-no", Button).press()
        await pilot.pause()
        app.screen.query_one("#help-send", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert "Bitte wählen Sie einen Grund." in text_of(app, "#help-reason-error")
    assert list_feedback(sqlite_backend) == []


async def test_feedback_yes_is_stored(sqlite_backend) -> None:
    app = make_app(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        app.screen.query_one("#help-yes", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Thank you for your feedback!" in text_of(app, "#help-thanks")
    (stored,) = list_feedback(sqlite_backend)
    assert stored.helpful is True and stored.reason is None and stored.language == "en"


def test_submit_feedback_validates(sqlite_backend) -> None:
    with pytest.raises(ValidationFailed) as info:
        submit_feedback(sqlite_backend, article="welcome", helpful=False, reason="unclear",
                        comment="x" * 2001)
    assert "comment" in info.value.fields
    with pytest.raises(ValidationFailed):
        submit_feedback(sqlite_backend, article="welcome", helpful=False, reason="bogus")
    assert list_feedback(sqlite_backend) == []


async def test_unavailable_flow_shows_notification(sqlite_backend, monkeypatch) -> None:
    monkeypatch.setattr(KioskApp, "FLOWS", {})  # as before any flow was registered
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#welcome-org-register")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        messages = [n.message for n in app._notifications]
        assert "Diese Funktion ist bald verfügbar." in messages


async def test_registered_flow_opens(sqlite_backend, monkeypatch) -> None:
    monkeypatch.setattr(KioskApp, "FLOWS", {"register": FormScreen})
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#welcome-register")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)


async def test_markup_characters_shown_literally(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(FormScreen())
        await pilot.pause()
        assert str(app.screen.query_one("#test-record", Label).render()) == (
            "[b]Müller[/b] & [red]Co[/]")


async def test_domain_errors_map_to_fields_and_form_error(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = FormScreen()
        app.push_screen(screen)
        await pilot.pause()
        show_domain_error(screen, Conflict("Please check your entries.",
                                           fields={"name": "Please check this entry."}),
                          prefix="test")
        await pilot.pause()
        assert "Bitte prüfen Sie diese Eingabe." in text_of(app, "#test-name-error")
        assert "Bitte prüfen Sie Ihre Eingaben." in text_of(app, "#form-error")


async def test_storage_failure_in_worker_is_one_clear_sentence(sqlite_backend) -> None:
    def broken() -> None:
        raise StorageUnavailable("Please check your entries.")

    def crash() -> None:
        raise RuntimeError("boom")

    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = FormScreen()
        app.push_screen(screen)
        await pilot.pause()
        screen.run_service(broken)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Bitte prüfen Sie Ihre Eingaben." in text_of(app, "#form-error")
        screen.run_service(crash)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Etwas ist schiefgelaufen" in text_of(app, "#form-error")
        assert app.is_running


async def test_high_contrast_toggle(sqlite_backend) -> None:
    app = make_app(sqlite_backend)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "kiosk"
        await pilot.press("f3")
        assert app.theme == "kiosk-high-contrast"
        await pilot.press("f3")
        assert app.theme == "kiosk"


def test_app_creates_and_upgrades_its_database(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KIOSK_HOME", str(tmp_path / "home"))
    app = KioskApp(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", kiosk_mode=True)
    assert app.idle_timeout == app.backend.settings.idle_timeout_kiosk == 120
    assert list_feedback(app.backend) == []
    desk = KioskApp(backend=app.backend)
    assert desk.idle_timeout == 900
    app.backend.dispose()


def test_every_article_exists_in_both_languages() -> None:
    for language in ("de", "en"):
        for name in ARTICLES:
            assert (HELP_DIR / language / f"{name}.md").read_text(encoding="utf-8").startswith("# ")


def test_shell_catalog_is_complete() -> None:
    with (LOCALE_DIR / "de" / "LC_MESSAGES" / "shell.po").open("rb") as handle:
        catalog = read_po(handle, locale="de")
    ids = [m.id for m in catalog if m.id]
    assert len(ids) > 40
    for msgid in ids:
        assert translate("de", msgid), msgid
    assert translate("de", "This function will be available soon.") == (
        "Diese Funktion ist bald verfügbar.")
    assert translate("de", "Was this article helpful?") == "War dieser Artikel hilfreich?"




async def test_dates_follow_the_language(sqlite_backend) -> None:
    import datetime as dt

    from screens.widgets import date_text

    app = make_app(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        assert str(date_text(app.screen, dt.date(2026, 5, 1))) == "01.05.2026"
        await pilot.press("f2")
        assert str(date_text(app.screen, dt.date(2026, 5, 1))) == "01/05/2026"


def _screen_classes() -> list[type]:
    import importlib
    import inspect
    import pkgutil

    from textual.screen import Screen

    import screens
    import screens.backoffice

    found: list[type] = []
    for package in (screens, screens.backoffice):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found += [obj for obj in vars(module).values() if inspect.isclass(obj)
                      and issubclass(obj, Screen) and obj.__module__ == module.__name__]
    return found


def test_every_screen_has_its_own_help_article() -> None:
    """Issue 19.5: the start page, "Meine Kundendaten", "Meine Einstellungen" and the desk
    opened the welcome article because ``ARTICLES`` left them out. Every screen names an
    article that exists in both languages; only the welcome screen shows the welcome one;
    a dialog without its own shows the article of the screen beneath."""
    from screens.widgets import KioskModal

    classes = _screen_classes()
    assert len(classes) > 30
    for cls in classes:
        article = cls.HELP_ARTICLE
        if cls is KioskScreen or issubclass(cls, KioskModal) and not article:
            continue
        assert article in ARTICLES, cls
        assert HelpScreen(article).article == article, cls
        assert (article == "welcome") == (cls is WelcomeScreen or cls is HelpScreen), cls


async def test_f1_on_the_start_page_profile_settings_and_desk(sqlite_backend) -> None:
    from pilot import login_token, settle

    from screens.backoffice.desk import DeskScreen
    from screens.customer_numbers import UnlinkDialog
    from screens.home import HomeScreen
    from screens.profile import ProfileScreen
    from screens.settings import SettingsScreen
    from services.demo import load_demo

    load_demo(sqlite_backend)
    app = make_app(sqlite_backend, idle_timeout=3600)
    async with app.run_test(size=SIZE) as pilot:
        app.set_session(login_token(sqlite_backend, "amueller"))
        for screen, article, heading in (
                (HomeScreen("Anna"), "home", "# "), (ProfileScreen(), "profile", "# "),
                (SettingsScreen(), "profile", "# "),
                (DeskScreen("Desk", "agent"), "backoffice", "# ")):
            await open_screen(pilot, screen)
            await pilot.press("f1")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            assert app.screen.article == article
            source = app.screen.query_one("#help-article", Markdown).source
            assert source == (HELP_DIR / "de" / f"{article}.md").read_text(encoding="utf-8")
            assert source.startswith(heading)
            await pilot.press("escape")
            await settle(pilot)
        # a dialog shows the article of the screen it was opened on
        from screens.customer_numbers import CustomerNumbersScreen

        await open_screen(pilot, CustomerNumbersScreen())
        await open_screen(pilot, UnlinkDialog("200001"))
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen) and app.screen.article == "customer-numbers"
