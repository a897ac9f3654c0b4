"""The Textual app: start-up, kiosk mode, idle wipe, language, themes, help, flow registry.

Later flows plug in through ``KioskApp.FLOWS`` (name -> screen factory); every screen derives
from ``screens.widgets.KioskScreen`` (``HELP_ARTICLE``, ``refresh_texts()``, ``run_service``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

from screens.widgets import TranslatedLabel, language_of, tr, translate_bindings, wipe_inputs
from services.errors import N_
from services.i18n import LANGUAGES, translate
from tui.commands import KioskCommands
from tui.flows import FLOWS, SessionMixin
from tui.themes import DEFAULT_THEME, HIGH_CONTRAST_THEME, THEMES

if TYPE_CHECKING:
    from services.backend import Backend

_IMPORTED_AT = time.perf_counter()
MSG_CRASHED = N_("Something went wrong and the kiosk had to close. Please ask the staff for help.")
log = logging.getLogger("kundenkiosk.tui")


class IdleWarning(ModalScreen[None]):
    """"Are you still there?" — any key or click cancels (handled by the app)."""

    DEFAULT_CSS = """
    IdleWarning { align: center middle; background: $background 70%; }
    #idle-box {
        width: 60; max-width: 95%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    #idle-title { text-style: bold; color: $warning; width: 100%; }
    #idle-countdown { width: 100%; margin: 1 0; }
    """
    HELP_ARTICLE = "welcome"

    def __init__(self, seconds: int) -> None:
        super().__init__(id="idle-warning")
        self.seconds = seconds

    def compose(self) -> ComposeResult:
        with Vertical(id="idle-box"):
            yield TranslatedLabel(N_("Are you still there?"), id="idle-title")
            yield TranslatedLabel(
                N_("The session ends in {seconds} seconds."), {"seconds": self.seconds},
                id="idle-countdown")
            yield TranslatedLabel(N_("Press any key to continue."), id="idle-hint")

    def set_seconds(self, seconds: int) -> None:
        if seconds != self.seconds:
            self.seconds = seconds
            self.query_one("#idle-countdown", TranslatedLabel).set_message(
                N_("The session ends in {seconds} seconds."), seconds=seconds)

    def refresh_texts(self) -> None:
        for label in self.query(TranslatedLabel):
            label.refresh_texts()


class KioskApp(SessionMixin, App[None], inherit_bindings=False):
    """``KioskApp(database_url=None, language="de", kiosk_mode=False, idle_timeout=None)``.

    ``idle_timeout``: seconds without input until the wipe, the warning included
    (default ``settings.idle_timeout_kiosk`` in kiosk mode, else ``idle_timeout_desk``);
    ``idle_warning``: seconds of countdown before it; ``idle_tick``: check interval;
    ``cursor_blink=False`` for deterministic snapshots.
    """

    TITLE = "Kundenkiosk"
    CSS_PATH = "app.tcss"
    COMMANDS: ClassVar[set[Any]] = {KioskCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", N_("Help"), id="help", priority=True,
                tooltip=N_("Show the help article for this screen")),
        Binding("f2", "switch_language", N_("Language / Sprache"), id="language", priority=True,
                tooltip=N_("Switch the language")),
        Binding("f3", "toggle_contrast", N_("Contrast"), id="contrast", priority=True,
                tooltip=N_("Switch between the normal and the high-contrast theme")),
        Binding("ctrl+p", "command_palette", N_("Commands"), id="palette", priority=True, show=False,
                tooltip=N_("Search for an action")),
        Binding("ctrl+q", "quit_app", N_("Quit"), id="quit", priority=True,
                tooltip=N_("Quit the application")),
        # Tab as a priority binding: handled as it arrives, so the keys behind it in one
        # burst (a scanner, a paste, a browser) already go to the next field. Textual's
        # screen binding runs only once Tab has bubbled up from the old field, after the
        # keys behind it were handed to that field.
        Binding("tab", "focus_next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", show=False, priority=True),
    ]

    #: Flow registry: name -> screen factory. Missing names show "available soon".
    #: Known names: "login", "register", "org-register" (welcome buttons) and later flows.
    FLOWS: ClassVar[dict[str, Callable[..., Screen[Any]]]] = dict(FLOWS)

    language: reactive[str] = reactive("de", init=False)

    def __init__(
        self,
        database_url: str | None = None,
        language: str | None = "de",
        kiosk_mode: bool = False,
        idle_timeout: float | None = None,
        backend: Backend | None = None,
        *,
        idle_warning: float | None = None,
        idle_tick: float = 1.0,
        high_contrast: bool = False,
        cursor_blink: bool = True,
    ) -> None:
        self._created_at = time.perf_counter()
        super().__init__()
        from tui.terminal_input import install

        install()  # one invalid byte on the input must not end the kiosk
        from services.shell_settings import shell_settings

        # The backend (SQLAlchemy, migrations, argon2) is loaded after the first frame, in a
        # thread, unless one is handed in: the welcome screen needs none of it.
        self._backend = backend
        self._backend_lock = threading.Lock()
        self._database_url = database_url
        self.exit_message: str | None = None
        # Settings for the first screen; the rest is read when the backend opens.
        settings = backend.settings if backend is not None else shell_settings()
        if language is None:
            language = settings.language
        if language not in LANGUAGES:
            language = "de"
        self.start_language = language
        self.set_reactive(KioskApp.language, language)
        self.kiosk_mode = kiosk_mode
        if idle_timeout is None:
            idle_timeout = settings.idle_timeout_kiosk if kiosk_mode else settings.idle_timeout_desk
        self.idle_timeout = float(idle_timeout)
        warning = settings.idle_warning if idle_warning is None else idle_warning
        self.idle_warning = float(max(0.0, min(warning, self.idle_timeout / 2)))
        self.idle_tick = idle_tick
        self.cursor_blink = cursor_blink
        from services.caller import Caller

        self.caller = Caller(terminal_id=settings.terminal_id, language=language)
        self.session_token: str | None = None
        self._last_input = time.monotonic()
        self._warning: IdleWarning | None = None
        self._wiping = False
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = HIGH_CONTRAST_THEME if high_contrast else DEFAULT_THEME
        self._translate_app_bindings()

    # -- i18n -------------------------------------------------------------------------------
    def _(self, message: str, **params: object) -> str:
        """Translate an English msgid into the current language."""
        return translate(self.language, message, **params)

    def _translate_app_bindings(self) -> None:
        translate_bindings(self, self.language, skip={"quit"} if self.kiosk_mode else ())

    def watch_language(self, language: str) -> None:
        self.caller = dataclasses.replace(self.caller, language=language)
        self._translate_app_bindings()
        for screen in list(self.screen_stack):
            refresh = getattr(screen, "refresh_texts", None)
            if callable(refresh) and screen.is_mounted:
                try:
                    refresh()
                except NoMatches:  # still composing: it renders in the new language anyway
                    pass
        self.screen.refresh_bindings()

    def action_switch_language(self) -> None:
        index = LANGUAGES.index(self.language) if self.language in LANGUAGES else 0
        self.language = LANGUAGES[(index + 1) % len(LANGUAGES)]

    # -- screens ----------------------------------------------------------------------------
    def _base_depth(self) -> int:
        """Screens below the welcome screen (the app's blank default screen)."""
        return 1

    @classmethod
    def register_flow(cls, name: str, factory: Callable[..., Screen[Any]]) -> None:
        """``KioskApp.register_flow("login", LoginScreen)`` — the factory gets the arguments
        that ``open_flow`` is called with."""
        cls.FLOWS[name] = factory

    def open_flow(self, name: str, *args: Any, switch: bool = False, **kwargs: Any) -> Any:
        """Open the flow ``name``: push the screen its factory builds from ``args`` and
        ``kwargs`` (``switch=True``: it replaces the current screen). This is how a screen
        leaves for another flow; it never imports that flow's screens."""
        factory = self.FLOWS.get(name)
        if factory is None:
            self.notify(self._("This function will be available soon."),
                        title=self._("Please note"), markup=False)
            return None
        screen = factory(*args, **kwargs)
        return self.switch_screen(screen) if switch else self.push_screen(screen)

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        if self._warning is not None:
            return
        # the topmost screen with an article of its own (a dialog shows its screen's)
        article = next((a for s in reversed(self.screen_stack)
                        if (a := getattr(s, "HELP_ARTICLE", ""))), "welcome")
        self.push_screen(HelpScreen(article))

    def action_toggle_contrast(self) -> None:
        self.theme = DEFAULT_THEME if self.theme == HIGH_CONTRAST_THEME else HIGH_CONTRAST_THEME

    def action_command_palette(self) -> None:
        from textual.command import CommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(CommandPalette(placeholder=self._("Search for an action…"),
                                            id="--command-palette"))

    def action_quit_app(self) -> None:
        if not self.kiosk_mode:
            self.exit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"quit_app", "quit"} and self.kiosk_mode:
            return False
        return True

    async def action_quit(self) -> None:  # any path to "quit" is closed in kiosk mode
        if not self.kiosk_mode:
            self.exit()

    # -- start-up ---------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        """The backend, created (and the schema upgraded) on first use."""
        if self._backend is None:
            with self._backend_lock:
                if self._backend is None:
                    from services.backend import Backend

                    backend = Backend(database_url=self._database_url)
                    backend.ensure_schema()
                    self._backend = backend
        return self._backend

    def _connect(self) -> None:
        """Open the database in a thread after the first frame; exit with one sentence when
        it cannot be used (never a traceback)."""
        from db.errors import DatabaseConfigError
        from services.errors import DomainError

        try:
            self.backend  # noqa: B018 - creates it
        except (DomainError, DatabaseConfigError) as exc:
            self.exit_message = f"kiosk: {self._error_sentence(exc)}"
            self.call_from_thread(self.exit, None, 2, Text(self.exit_message))

    # -- errors: one sentence, never a traceback --------------------------------------------
    def _error_sentence(self, error: BaseException) -> str:
        from services.errors import DomainError

        if isinstance(error, DomainError):
            return self._(error.message, **error.params)
        return str(error)

    def _handle_exception(self, error: Exception) -> None:
        """An error no screen handled ends the app with one sentence. Textual's own handler
        prints a Rich traceback with the frames' locals (a typed password among them)."""
        from textual.worker import WorkerFailed

        from db.errors import DatabaseConfigError
        from services.errors import DomainError

        cause = error.error if isinstance(error, WorkerFailed) else error
        if self.exit_message is not None:  # already ending: a screen met the closing app
            log.debug("after the exit: %s", type(cause).__name__)
            return
        if self._exception is None:  # Pilot re-raises it in tests
            self._exception = error
            self._exception_event.set()
        if isinstance(cause, DomainError | DatabaseConfigError):  # e.g. a damaged database
            self._return_code = 2
            sentence = self._error_sentence(cause)
        else:
            self._return_code = 1
            frames = traceback.extract_tb(cause.__traceback__)
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
            log.error("unexpected %s at %s; the app ends", type(cause).__name__, where)
            sentence = self._(MSG_CRASHED)
        self.exit_message = f"kiosk: {sentence}"
        self._exit_renderables.append(Text(self.exit_message))
        self._close_messages_no_wait()

    def on_mount(self) -> None:
        from screens.welcome import WelcomeScreen


        self.push_screen(WelcomeScreen())
        self.set_interval(self.idle_tick, self._idle_check, name="idle")

    def on_ready(self) -> None:
        now = time.perf_counter()
        message = (f"started in {(now - self._created_at) * 1000:.0f} ms "
                   f"({(now - _IMPORTED_AT) * 1000:.0f} ms since import)")
        log.info(message)
        self.log.info(message)
        if os.environ.get("KIOSK_EXIT_ON_READY"):  # benchmarks: measure start-up only
            self.call_after_refresh(self._ready_and_exit, os.environ["KIOSK_EXIT_ON_READY"])
        # Once the welcome screen is drawn: open the database and warm up, in threads.
        self.call_after_refresh(self._start_background)

    def _start_background(self) -> None:
        if self._backend is None:
            self.run_worker(self._connect, thread=True, exit_on_error=False, group="connect")
        self.start_housekeeping()

    def _ready_and_exit(self, target: str) -> None:
        """Benchmarks: note the wall-clock time of the first frame (in a file), then exit."""
        if target not in {"1", "true", "yes"}:
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(repr(time.time()))
        self.exit()

    # -- idle wipe --------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseMove,
                              events.MouseScrollDown, events.MouseScrollUp, events.Paste)):
            self._last_input = time.monotonic()
            if self._warning is not None:
                self._cancel_warning()
                if isinstance(event, (events.Key, events.MouseDown)):
                    return  # the key that wakes the kiosk does nothing else
        await super().on_event(event)

    def _cancel_warning(self) -> None:
        warning, self._warning = self._warning, None
        if warning is not None and warning.is_current:
            warning.dismiss(None)

    async def _idle_check(self) -> None:
        if self._wiping:
            return
        remaining = self.idle_timeout - (time.monotonic() - self._last_input)
        if remaining <= 0:
            await self.wipe()
        elif remaining <= self.idle_warning:
            seconds = max(1, int(remaining + 0.999))
            if self._warning is None:
                self._warning = IdleWarning(seconds)
                self.push_screen(self._warning)
            else:
                self._warning.set_seconds(seconds)

    def set_session(self, token: str | None) -> None:
        """Log in (a token) or out (None): keeps ``caller.session_token`` in step."""
        self.session_token = token
        self.caller = dataclasses.replace(self.caller, session_token=token)

    def end_session(self) -> None:
        """End the server session (if any). Later flows extend this (logout service)."""
        token, self.session_token = self.session_token, None
        self.caller = dataclasses.replace(self.caller, session_token=None)
        if token is not None:
            self.end_server_session(token)

    async def wipe(self) -> None:
        """End the session, wipe every screen and input, return to a fresh welcome screen."""
        from screens.welcome import WelcomeScreen

        self._wiping = True
        try:
            self._warning = None
            self.end_session()
            self.clear_notifications()
            wipe_inputs(list(self.screen_stack))
            while len(self.screen_stack) > self._base_depth() + 1:
                await self.pop_screen()
            if self.language != self.start_language:
                self.language = self.start_language
            if len(self.screen_stack) > self._base_depth():
                await self.switch_screen(WelcomeScreen())
            else:
                await self.push_screen(WelcomeScreen())
            self._last_input = time.monotonic()
        finally:
            self._wiping = False


__all__ = ["KioskApp", "IdleWarning", "language_of", "tr"]
