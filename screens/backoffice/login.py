"""Agent login: user name and password of a service-desk account (``kiosk agent create``),
in the customers' login form (``screens.login_form``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget

from screens.login_form import LoginFormScreen
from screens.widgets import TranslatedButton, TranslatedLabel
from services import accounts
from services.errors import N_

MSG_KIOSK = N_("The service desk is not available on this kiosk.")


class AgentLoginScreen(LoginFormScreen):
    HELP_ARTICLE = "backoffice"
    CSS_PATH = "../forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
    ]
    PREFIX = "agent"
    TITLE_MSGID = N_("Service desk login")
    IDENTIFIER_LABEL = N_("User name")
    IDENTIFIER_MAX_LENGTH = 120
    BUTTONS = (("back", N_("Back")),)

    def intro(self) -> Widget:
        return TranslatedLabel(N_("For service-desk staff only. Customers log in on the "
                                  "start page."), classes="form-intro")

    def login(self) -> Callable[..., Any]:
        return accounts.login_agent

    def on_mount(self) -> None:
        super().on_mount()
        if getattr(self.app, "kiosk_mode", False):
            self.app.notify(self._(MSG_KIOSK), severity="error", markup=False)
            self.app.pop_screen()
            return
        self.identifier_input.focus()

    @on(TranslatedButton.Pressed, "#agent-back")
    def _back(self) -> None:
        self.action_back()

    def _logged_in(self, result: accounts.LoginResult) -> None:
        from screens.backoffice.desk import DeskScreen

        self.app.set_session(result.token)  # type: ignore[attr-defined]
        if result.second_factor:  # #15: agents always have a second step
            from screens.totp import login_flow

            app = self.app
            login_flow(self, result.second_factor,
                       lambda name, kind: app.switch_screen(DeskScreen(name, kind)),
                       lambda: app.switch_screen(AgentLoginScreen()))
            return
        self.app.switch_screen(DeskScreen(result.display_name, result.kind))
