"""Login with username, e-mail or customer number (the form of ``screens.login_form``, as the
service desk's), and the forgotten-password flow (code by e-mail)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Footer, Input

from screens.login_form import LoginFormScreen
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
from services import accounts, customer_login
from services.errors import N_, DomainError


class LoginScreen(LoginFormScreen):
    HELP_ARTICLE = "login"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f4", "forgot", N_("Forgot password"), id="forgot"),
    ]
    PREFIX = "login"
    TITLE_MSGID = N_("Log in")
    IDENTIFIER_LABEL = N_("Username, e-mail address or customer number")
    IDENTIFIER_MAX_LENGTH = 254
    BUTTONS = (("forgot", N_("Forgot password?")), ("register", N_("Create an account")))

    def __init__(self, identifier: str = "", notice: str = "") -> None:
        super().__init__()
        self.identifier = identifier
        self.notice = notice

    def intro(self) -> Widget:
        return TranslatedLabel(self.notice, id="login-notice", classes="form-notice")

    def login(self) -> Callable[..., Any]:
        # A customer number (digits) logs in with its customer password (guide 004).
        return customer_login.login_any

    def on_mount(self) -> None:
        super().on_mount()
        target = "#login-password" if self.identifier else "#login-identifier"
        self.query_one(target, Input).focus()

    def rejected(self, error: DomainError, password: str) -> bool:
        if isinstance(error, accounts.DeletionPending):  # #16: offer to cancel the deletion
            from screens.privacy import offer_cancel_deletion

            offer_cancel_deletion(self, error, self.identifier_input.value, password,
                                  self._logged_in)
            return True
        if isinstance(error, accounts.EmailNotVerified):
            identifier = self.identifier_input.value
            self.app.open_flow("verify", identifier, notice=(error.message, {}), switch=True)
            return True
        return False

    def _logged_in(self, result: accounts.LoginResult | customer_login.CustomerLoginResult
                   ) -> None:
        self.app.set_session(result.token)
        if isinstance(result, customer_login.CustomerLoginResult):  # a contract partner
            self.app.open_flow("merge", customer_login=True, switch=True)  # the merge wizard
            return
        if result.second_factor:  # #15: the code from the app first
            from screens.totp import login_flow

            app, identifier = self.app, self.identifier_input.value
            login_flow(self, result.second_factor,
                       lambda name, _kind: app.open_flow("home", name, switch=True),
                       lambda: app.switch_screen(LoginScreen(identifier)))
            return
        self.app.open_flow("home", result.display_name, switch=True)

    @on(TranslatedButton.Pressed, "#login-forgot")
    def action_forgot(self) -> None:
        identifier = self.identifier_input.value
        self.app.switch_screen(ForgotPasswordScreen(identifier))

    @on(TranslatedButton.Pressed, "#login-register")
    def _register(self) -> None:
        self.app.open_flow("register", switch=True)


class ForgotPasswordScreen(KioskScreen):
    """Step 1: the username or e-mail; step 2: the code from the mail and a new password."""

    HELP_ARTICLE = "login"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
    ]

    def __init__(self, identifier: str = "") -> None:
        super().__init__()
        self.identifier = identifier

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Reset your password"), classes="form-title")
            yield TranslatedLabel(
                N_("Enter your username or e-mail address. We will send you an e-mail with "
                   "a code to set a new password."), classes="form-intro")
            yield Field(N_("Username or e-mail address"),
                        Input(self.identifier, id="forgot-identifier", max_length=254),
                        required=True)
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Send code"), id="forgot-submit", variant="primary")
            yield TranslatedLabel("", id="forgot-notice", classes="form-notice")
            with Vertical(id="reset-step", classes="form-box"):
                yield Field(N_("Code from the e-mail"), Input(id="reset-code", max_length=40),
                            required=True)
                yield Field(N_("New password"), Input(id="reset-password", password=True,
                                                      max_length=300), required=True,
                            hint=N_("At least 15 characters. A sentence you can remember "
                                    "is best."))
                yield Field(N_("Confirm new password"),
                            Input(id="reset-password-confirm", password=True, max_length=300),
                            required=True)
                yield FormError()
                with Horizontal(classes="form-buttons"):
                    yield TranslatedButton(N_("Set new password"), id="reset-submit",
                                           variant="primary")
                    yield TranslatedButton(N_("Back"), id="reset-back")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#reset-step").display = False
        self.query_one("#forgot-identifier", Input).focus()

    @on(Input.Submitted, "#forgot-identifier")
    @on(TranslatedButton.Pressed, "#forgot-submit")
    def _request(self) -> None:
        clear_errors(self)
        if not require(self, "forgot-identifier"):
            return
        self.identifier = self.query_one("#forgot-identifier", Input).value
        self.run_service(accounts.request_password_reset, self.app.backend, self.identifier,
                         self.app.caller, on_success=self._requested, on_error=self._failed)

    def _requested(self, result: accounts.RequestResult) -> None:
        self.query_one("#forgot-notice", TranslatedLabel).set_message(result.message,
                                                                       **result.params)
        self.query_one("#reset-step").display = True
        self.query_one("#reset-code", Input).focus()

    @on(Input.Submitted, "#reset-password-confirm")
    @on(TranslatedButton.Pressed, "#reset-submit")
    def _reset(self) -> None:
        clear_errors(self)
        if not require(self, "reset-code", "reset-password", "reset-password-confirm"):
            return
        new = self.query_one("#reset-password", Input).value
        if new != self.query_one("#reset-password-confirm", Input).value:
            self.query_one("#reset-password-confirm-error").show(self._(accounts.MSG_CONFIRM))  # type: ignore[attr-defined]
            return
        code = self.query_one("#reset-code", Input).value
        self.query_one("#reset-step").loading = True
        self.run_service(accounts.reset_password, self.app.backend, self.identifier, code, new,
                         self.app.caller, on_success=self._done, on_error=self._failed)

    def _failed(self, error: DomainError) -> None:
        self.query_one("#reset-step").loading = False
        show_domain_error(self, error, prefix="reset",
                          field_ids={"new_password": "reset-password",
                                     "password": "reset-password",
                                     "identifier": "forgot-identifier"})
        step = self.query_one("#reset-step")
        target = "#reset-code" if step.display else "#forgot-identifier"
        self.query_one(target, Input).focus()

    def _done(self, result: accounts.RequestResult) -> None:
        self.app.switch_screen(LoginScreen(self.identifier,
                                           notice=self._(result.message, **result.params)))

    @on(TranslatedButton.Pressed, "#reset-back")
    def _back(self) -> None:
        self.action_back()
