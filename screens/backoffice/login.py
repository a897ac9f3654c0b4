"""Agent login: user name and password of a service-desk account (``kiosk agent create``)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input

from screens.widgets import (
    Field,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    require,
    show_domain_error,
)
from services import accounts
from services.errors import N_, DomainError

MSG_KIOSK = N_("The service desk is not available on this kiosk.")


class AgentLoginScreen(KioskScreen):
    HELP_ARTICLE = "backoffice"
    CSS_PATH = "../forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Service desk login"), classes="form-title")
            yield TranslatedLabel(N_("For service-desk staff only. Customers log in on the "
                                     "start page."), classes="form-intro")
            yield Field(N_("User name"), Input(id="agent-identifier", max_length=120),
                        required=True)
            yield Field(N_("Password"), Input(id="agent-password", password=True,
                                              max_length=300), required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Log in"), id="agent-submit", variant="primary")
                yield TranslatedButton(N_("Back"), id="agent-back")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        if getattr(self.app, "kiosk_mode", False):
            self.app.notify(self._(MSG_KIOSK), severity="error", markup=False)
            self.app.pop_screen()
            return
        self.query_one("#agent-identifier", Input).focus()

    @on(Input.Submitted, "#agent-identifier")
    def _next(self) -> None:
        self.query_one("#agent-password", Input).focus()

    @on(TranslatedButton.Pressed, "#agent-back")
    def _back(self) -> None:
        self.action_back()

    @on(Input.Submitted, "#agent-password")
    @on(TranslatedButton.Pressed, "#agent-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        if not require(self, "agent-identifier", "agent-password"):
            return
        identifier = self.query_one("#agent-identifier", Input).value
        password = self.query_one("#agent-password", Input).value
        self.query_one(".form-box").loading = True
        self.run_service(accounts.login_agent, self.app.backend, identifier, password,  # type: ignore[attr-defined]
                         self.app.caller, on_success=self._logged_in, on_error=self._failed)  # type: ignore[attr-defined]

    def _failed(self, error: DomainError) -> None:
        self.query_one(".form-box").loading = False
        self.query_one("#agent-password", Input).value = ""
        show_domain_error(self, error, prefix="agent")
        self.query_one("#agent-password", Input).focus()

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
