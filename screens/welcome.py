"""The welcome screen: what the kiosk does, and the way in (log in, register, help)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical, VerticalScroll
from textual.widgets import Button, Footer

from screens.widgets import KioskScreen, TranslatedButton, TranslatedLabel
from services.errors import N_

#: Button id -> flow name in the app's registry (``KioskApp.FLOWS``).
FLOW_BUTTONS = {
    "welcome-login": "login",
    "welcome-register": "register",
    "welcome-org-register": "org-register",
}


class WelcomeScreen(KioskScreen):
    HELP_ARTICLE = "welcome"
    CSS_PATH = "welcome.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the scroll container's own down/up (scrolling) would win at 80x24
        Binding("down", "app.focus_next", show=False, priority=True),
        Binding("up", "app.focus_previous", show=False, priority=True),
        # Service desk (#9): not offered, and refused, in kiosk mode (see check_action).
        Binding("ctrl+b", "agent_login", N_("Service-Desk"), id="agent-login"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="welcome-body"):
            with Vertical(id="welcome-box"):
                yield TranslatedLabel(N_("Welcome to the customer kiosk"), id="welcome-title")
                yield TranslatedLabel(
                    N_("Here you link your customer numbers, contracts and licence keys "
                       "to your own account, all in one place. Use the arrow keys or Tab "
                       "and Enter, or touch the buttons."),
                    id="welcome-intro",
                )
                with Center():
                    yield TranslatedButton(N_("Log in"), id="welcome-login", variant="primary",
                                           classes="welcome-button")
                with Center():
                    yield TranslatedButton(N_("Create an account"), id="welcome-register",
                                           classes="welcome-button")
                with Center():
                    yield TranslatedButton(
                        N_("No user yet? Register for your company"),
                        id="welcome-org-register", classes="welcome-button")
                with Center():
                    yield Button("", id="welcome-language", classes="welcome-button")
                with Center():
                    yield TranslatedButton(N_("Help (F1)"), id="welcome-help",
                                           classes="welcome-button")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._language_label()
        self.query_one("#welcome-login", Button).focus()

    def _language_label(self) -> None:
        # The name of the other language, in that language (not a translation).
        other = "English" if self.app.language == "de" else "Deutsch"  # type: ignore[attr-defined]
        self.query_one("#welcome-language", Button).label = other

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self._language_label()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "agent_login" and getattr(self.app, "kiosk_mode", False):
            return False
        return True

    def action_agent_login(self) -> None:
        if not getattr(self.app, "kiosk_mode", False):
            self.app.open_flow("agent-login")  # type: ignore[attr-defined]

    @on(Button.Pressed, ".welcome-button")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id in FLOW_BUTTONS:
            self.app.open_flow(FLOW_BUTTONS[button_id])  # type: ignore[attr-defined]
        elif button_id == "welcome-language":
            self.app.action_switch_language()  # type: ignore[attr-defined]
        elif button_id == "welcome-help":
            self.app.action_help()  # type: ignore[attr-defined]
