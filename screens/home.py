"""The customer's start page after login, the account settings (password, e-mail address)
and the password re-entry before sensitive actions (``#reauth-password``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input

from screens.login import MSG_MISMATCH, require
from screens.widgets import (
    Field,
    FormError,
    KioskScreen,
    PasswordDialog,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    show_domain_error,
)
from services import accounts, sessions
from services.errors import N_, DomainError

#: Navigation button id -> flow name in ``KioskApp.FLOWS`` (later flows plug in there).
NAV_FLOWS = {
    "nav-profile": "profile",
    "nav-customer-numbers": "customer-numbers",
    "nav-contracts": "contracts",
    "nav-products": "products",
    "nav-organisation": "organisation",
    "nav-merge": "merge",
    "nav-settings": "settings",
}
SESSION_CHECK_SECONDS = 30


class HomeScreen(KioskScreen):
    HELP_ARTICLE = "welcome"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f10", "logout", N_("Log out"), id="logout"),
    ]

    def __init__(self, display_name: str) -> None:
        super().__init__()
        self.display_name = display_name

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Hello {name}!"), {"name": self.display_name},
                                  classes="form-title", id="home-greeting")
            yield TranslatedLabel(N_("What would you like to do?"), classes="form-intro")
            yield TranslatedButton(N_("My customer data"), id="nav-profile",
                                   classes="nav-button")
            yield TranslatedButton(N_("Linked customer numbers"), id="nav-customer-numbers",
                                   classes="nav-button")
            yield TranslatedButton(N_("Contracts and subscriptions"), id="nav-contracts",
                                   classes="nav-button")
            yield TranslatedButton(N_("My products"), id="nav-products", classes="nav-button")
            yield TranslatedButton(N_("My organisation"), id="nav-organisation",
                                   classes="nav-button")
            yield TranslatedButton(N_("Merge customer numbers"), id="nav-merge",
                                   classes="nav-button")
            yield TranslatedButton(N_("My settings (password, e-mail)"), id="nav-settings",
                                   classes="nav-button")
            yield TranslatedButton(N_("Log out (F10)"), id="nav-logout", classes="nav-button",
                                   variant="warning")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#nav-profile").focus()
        self.set_interval(SESSION_CHECK_SECONDS, self.app.check_session)

    @on(TranslatedButton.Pressed, ".nav-button")
    def _navigate(self, event: TranslatedButton.Pressed) -> None:
        if event.button.id == "nav-logout":
            self.action_logout()
            return
        flow = NAV_FLOWS.get(event.button.id or "")
        if flow == "settings":
            self.app.push_screen(SettingsScreen())
        elif flow:
            self.app.open_flow(flow)

    def action_logout(self) -> None:
        self.app.logout()


class SettingsScreen(KioskScreen):
    """"Meine Einstellungen": change the password and the e-mail address."""

    HELP_ARTICLE = "login"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("My settings"), classes="form-title")
            yield TranslatedLabel("", id="settings-notice", classes="form-notice")
            yield TranslatedLabel(N_("Change password"), classes="form-intro")
            yield Field(N_("Current password"),
                        Input(id="settings-current-password", password=True, max_length=300),
                        required=True)
            yield Field(N_("New password"),
                        Input(id="settings-new-password", password=True, max_length=300),
                        required=True,
                        hint=N_("At least 15 characters. A sentence you can remember is best."))
            yield Field(N_("Confirm new password"),
                        Input(id="settings-new-password-confirm", password=True,
                              max_length=300), required=True)
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Change password"), id="settings-password-submit",
                                       variant="primary")
            yield TranslatedLabel(N_("Change e-mail address"), classes="form-intro")
            yield Field(N_("New e-mail address"),
                        Input(id="settings-new-email", max_length=254), required=True)
            yield Field(N_("Password"),
                        Input(id="settings-email-password", password=True, max_length=300),
                        required=True)
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Send confirmation code"), id="settings-email-submit",
                                       variant="primary")
            with Vertical(id="settings-email-step", classes="form-box"):
                yield Field(N_("Code from the e-mail"),
                            Input(id="settings-email-code", max_length=40), required=True)
                with Horizontal(classes="form-buttons"):
                    yield TranslatedButton(N_("Confirm new address"),
                                           id="settings-email-confirm", variant="primary")
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Back"), id="settings-back")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#settings-email-step").display = False
        self.query_one("#settings-current-password", Input).focus()

    def _notice(self, result: accounts.RequestResult) -> None:
        self.query_one("#settings-notice", TranslatedLabel).set_message(result.message,
                                                                         **result.params)

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error, prefix="settings",
                          field_ids={"current_password": "settings-current-password",
                                     "new_password": "settings-new-password",
                                     "password": "settings-email-password",
                                     "email": "settings-new-email",
                                     "new_email": "settings-new-email",
                                     "code": "settings-email-code"})

    @on(Input.Submitted, "#settings-new-password-confirm")
    @on(TranslatedButton.Pressed, "#settings-password-submit")
    def _change_password(self) -> None:
        clear_errors(self)
        ids = ("settings-current-password", "settings-new-password",
               "settings-new-password-confirm")
        if not require(self, *ids):
            return
        current, new, confirm = (self.query_one(f"#{i}", Input).value for i in ids)
        if new != confirm:
            self.query_one("#settings-new-password-confirm-error").show(self._(MSG_MISMATCH))  # type: ignore[attr-defined]
            return

        def done(result: accounts.RequestResult) -> None:
            for widget_id in ids:
                self.query_one(f"#{widget_id}", Input).value = ""
            self._notice(result)

        self.run_service(accounts.change_password, self.app.backend, self.app.session_token,
                         current, new, on_success=done, on_error=self._failed)

    @on(Input.Submitted, "#settings-email-password")
    @on(TranslatedButton.Pressed, "#settings-email-submit")
    def _change_email(self) -> None:
        clear_errors(self)
        if not require(self, "settings-new-email", "settings-email-password"):
            return
        email = self.query_one("#settings-new-email", Input).value
        password = self.query_one("#settings-email-password", Input).value

        def sent(result: accounts.RequestResult) -> None:
            self.query_one("#settings-email-password", Input).value = ""
            self._notice(result)
            self.query_one("#settings-email-step").display = True
            self.query_one("#settings-email-code", Input).focus()

        self.run_service(accounts.request_email_change, self.app.backend,
                         self.app.session_token, password, email,
                         on_success=sent, on_error=self._failed)

    @on(Input.Submitted, "#settings-email-code")
    @on(TranslatedButton.Pressed, "#settings-email-confirm")
    def _confirm_email(self) -> None:
        clear_errors(self)
        if not require(self, "settings-email-code"):
            return
        code = self.query_one("#settings-email-code", Input).value

        def confirmed(result: accounts.RequestResult) -> None:
            self.query_one("#settings-email-step").display = False
            self.query_one("#settings-email-code", Input).value = ""
            self.query_one("#settings-new-email", Input).value = ""
            self._notice(result)

        self.run_service(accounts.confirm_email_change, self.app.backend,
                         self.app.session_token, code, on_success=confirmed,
                         on_error=self._failed)

    @on(TranslatedButton.Pressed, "#settings-back")
    def _back(self) -> None:
        self.action_back()


class ReauthDialog(PasswordDialog):
    """Re-enter the password before a sensitive action; dismisses with True when confirmed."""

    PREFIX = "reauth"
    INTRO = N_("Please enter your password again to continue.")
    CANCELLED = False

    def call(self, password: str) -> None:
        self.run_service(sessions.reauthenticate, self.app.backend, self.app.session_token,
                         password, on_success=lambda _info: self.dismiss(True),
                         on_error=self.failed)


def with_recent_auth(screen: KioskScreen, then: Callable[[], Any]) -> None:
    """Run ``then`` at once when the password was entered in the last 5 minutes; otherwise
    ask for it first (``ReauthDialog``). Linking and merging screens call this."""

    def proceed(confirmed: bool | None) -> None:
        if confirmed:
            then()

    def need(error: DomainError) -> None:
        if isinstance(error, sessions.ReauthRequired):
            screen.app.push_screen(ReauthDialog(), proceed)
        elif isinstance(error, sessions.SessionExpired):
            screen.app.session_expired(error)
        else:
            show_domain_error(screen, error)

    screen.run_service(sessions.require_recent_auth, screen.app.backend,
                       screen.app.session_token, on_success=lambda _info: then(),
                       on_error=need)
