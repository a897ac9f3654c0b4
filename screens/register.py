"""Registration and e-mail confirmation (guides 000, 001, 002).

One form for every customer type; nothing is stored until the form is valid. The code from
the confirmation mail is typed in at the kiosk (``#verify-code``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, Footer, Input, Select

from screens.labels import CUSTOMER_TYPE_LABELS, country_options
from screens.widgets import (
    Field,
    FieldError,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    show_domain_error,
)
from services import accounts, passwords
from services.errors import N_, DomainError, ValidationFailed

SALUTATIONS = (N_("Ms"), N_("Mr"), N_("Diverse"))
FIELD_IDS = {"type": "register-customer-type"}


class RegisterScreen(KioskScreen):
    """"Benutzerkonto anlegen": the whole registration form."""

    HELP_ARTICLE = "register"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+s", "submit", N_("Register"), id="submit"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Create an account"), classes="form-title")
            yield TranslatedLabel(
                N_("Fields marked with * are required. Choose your username freely; "
                   "without one, your e-mail address is your username."),
                classes="form-intro",
            )
            yield Field(N_("Customer type"), Select(self._type_options(),
                                                    id="register-customer-type",
                                                    allow_blank=False), required=True)
            yield Field(N_("Username"), Input(id="register-username", max_length=64),
                        hint=N_("Optional: 3 to 64 letters, digits, dots or dashes."))
            yield Field(N_("E-mail address"), Input(id="register-email", max_length=254),
                        required=True)
            yield Field(N_("Password"), Input(id="register-password", password=True,
                                              max_length=300), required=True,
                        hint=N_("At least 15 characters. A sentence you can remember is best."))
            yield TranslatedLabel("", id="register-password-strength")
            yield Field(N_("Confirm password"),
                        Input(id="register-password-confirm", password=True, max_length=300),
                        required=True)
            yield Field(N_("Salutation"), Select([], id="register-salutation"))
            with Horizontal(classes="form-row"):
                yield Field(N_("First name"), Input(id="register-first-name", max_length=120),
                            required=True)
                yield Field(N_("Last name"), Input(id="register-last-name", max_length=120),
                            required=True)
            yield Field(N_("Street and number"), Input(id="register-street", max_length=200),
                        required=True)
            with Horizontal(classes="form-row"):
                yield Field(N_("Postal code"), Input(id="register-postal-code", max_length=16),
                            required=True)
                yield Field(N_("City"), Input(id="register-city", max_length=120),
                            required=True)
            yield Field(N_("Country"), Select(country_options(self.app.language),
                                              id="register-country", allow_blank=False,
                                              value="DE"), required=True)
            yield Field(
                N_("Customer number"), Input(id="register-customer-number", max_length=32),
                hint=N_("If you already have a customer number, enter it: your account is "
                        "then linked to it. Without a customer number, your address is "
                        "checked by hand."),
            )
            yield Checkbox("", id="register-terms")
            yield FieldError(id="register-terms-error")
            yield TranslatedLabel(
                N_("Privacy notice: we use your data only to run your customer account. "
                   "You can read the full privacy statement at the service desk or on our "
                   "website."),
                classes="form-intro",
            )
            yield Checkbox("", id="register-marketing")
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Register"), id="register-submit", variant="primary")
                yield TranslatedButton(N_("Back"), id="register-back")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._fill_options()
        self._refresh_checkboxes()
        self.query_one("#register-customer-type", Select).focus()

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self._fill_options()
        self._refresh_checkboxes()
        self._update_strength()

    def _type_options(self) -> list[tuple[str, str]]:
        types = self.app.backend.settings.customer_types
        return [(self._(CUSTOMER_TYPE_LABELS.get(t, t)), t) for t in types]

    def _fill_options(self) -> None:
        select = self.query_one("#register-customer-type", Select)
        current = select.value
        select.set_options(self._type_options())
        select.value = current
        salutation = self.query_one("#register-salutation", Select)
        chosen = salutation.value
        salutation.prompt = self._("Please choose")
        salutation.set_options([(self._(s), s) for s in SALUTATIONS])
        if chosen is not Select.NULL:  # NULL means "no choice"
            salutation.value = chosen
        country = self.query_one("#register-country", Select)
        value = "DE" if country.is_blank() else country.value
        country.set_options(country_options(self.app.language))
        country.value = value

    def _refresh_checkboxes(self) -> None:
        terms = self.query_one("#register-terms", Checkbox)
        terms.label = self._("I have read and accept the terms and conditions (AGB) *")
        marketing = self.query_one("#register-marketing", Checkbox)
        marketing.label = self._("Yes, I would like to receive information by e-mail (optional)")

    # -- live feedback ------------------------------------------------------------------
    @on(Input.Changed, "#register-password")
    def _update_strength(self) -> None:
        password = self.query_one("#register-password", Input).value
        label = self.query_one("#register-password-strength", TranslatedLabel)
        if not password:
            label.set_message("")
            return
        label.set_message(N_("Password strength: {label} ({count} of at least 15 characters)"),
                          label=self._(passwords.strength_label(password)),
                          count=passwords.length(password))

    @on(Input.Blurred)
    def _validate_field(self, event: Input.Blurred) -> None:
        """Check the field just left, so errors appear as the customer goes along."""
        name = (event.input.id or "").removeprefix("register-").replace("-", "_")
        if not event.input.value:
            return
        try:
            accounts.validate_registration(self._form(), self.app.backend.settings.customer_types)
        except ValidationFailed as error:
            text = error.fields.get(name)
            widget = self.query_one(f"#{event.input.id}-error")
            if text:
                widget.show(self._(text))  # type: ignore[attr-defined]
            else:
                widget.clear()  # type: ignore[attr-defined]
            return
        self.query_one(f"#{event.input.id}-error").clear()  # type: ignore[attr-defined]

    # -- submit ---------------------------------------------------------------------------
    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _form(self) -> dict[str, Any]:
        def selected(widget_id: str) -> str | None:
            select = self.query_one(f"#{widget_id}", Select)
            return None if select.is_blank() else str(select.value)

        return {
            "customer_type": selected("register-customer-type"),
            "username": self._value("register-username") or None,
            "email": self._value("register-email"),
            "password": self._value("register-password"),
            "password_confirm": self._value("register-password-confirm"),
            "salutation": selected("register-salutation"),
            "first_name": self._value("register-first-name"),
            "last_name": self._value("register-last-name"),
            "street": self._value("register-street"),
            "postal_code": self._value("register-postal-code"),
            "city": self._value("register-city"),
            "country": selected("register-country") or "DE",
            "customer_number": self._value("register-customer-number") or None,
            "accept_terms": self.query_one("#register-terms", Checkbox).value,
            "marketing": self.query_one("#register-marketing", Checkbox).value,
        }

    @on(TranslatedButton.Pressed, "#register-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        try:
            form = accounts.validate_registration(
                self._form(), self.app.backend.settings.customer_types)
        except ValidationFailed as error:
            self._show(error)
            return
        self.query_one(".form-box").loading = True
        self.run_service(accounts.register, self.app.backend, form, self.app.caller,
                         on_success=self._registered, on_error=self._failed)

    def _show(self, error: DomainError) -> None:
        show_domain_error(self, error, prefix="register", field_ids=FIELD_IDS)
        for name in error.fields:
            widget_id = FIELD_IDS.get(name, f"register-{name.replace('_', '-')}")
            try:
                self.query_one(f"#{widget_id}").focus()
            except Exception:  # noqa: BLE001, S112 - a field without a widget
                continue
            break

    def _failed(self, error: DomainError) -> None:
        self.query_one(".form-box").loading = False
        self._show(error)

    def _registered(self, result: accounts.RegistrationResult) -> None:
        self.app.switch_screen(VerifyScreen(result.identifier, result.email,
                                            notice=(result.message, result.params)))

    @on(TranslatedButton.Pressed, "#register-back")
    def _back(self) -> None:
        self.action_back()


class VerifyScreen(KioskScreen):
    """Confirm the e-mail address with the code from the mail."""

    HELP_ARTICLE = "verify"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
    ]

    def __init__(self, identifier: str, email: str | None = None, *,
                 notice: tuple[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.identifier = identifier
        self.email = email or identifier
        self.notice = notice

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Confirm your e-mail address"), classes="form-title")
            message, params = self.notice or ("", {})
            yield TranslatedLabel(message, params, id="verify-notice", classes="form-notice")
            # The service's notice already says where the code went; otherwise say it here.
            yield TranslatedLabel(
                "" if self.notice else
                N_("We have sent an e-mail to {email}. Enter the code from the e-mail here. "
                   "The code is valid for 30 minutes. If the e-mail does not arrive within a "
                   "few minutes, please check your spam or junk folder."),
                {"email": self.email}, classes="form-intro",
            )
            yield Field(N_("Confirmation code"), Input(id="verify-code", max_length=40),
                        required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Confirm"), id="verify-submit", variant="primary")
                yield TranslatedButton(N_("Send a new code"), id="verify-resend")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#verify-code", Input).focus()

    @on(Input.Submitted, "#verify-code")
    @on(TranslatedButton.Pressed, "#verify-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        code = self.query_one("#verify-code", Input).value
        if not code.strip():
            self.query_one("#verify-code-error").show(  # type: ignore[attr-defined]
                self._("This field must not be empty."))
            return
        self.query_one(".form-box").loading = True
        self.run_service(accounts.verify_email, self.app.backend, self.identifier, code,
                         self.app.caller, on_success=self._verified, on_error=self._failed)

    def _failed(self, error: DomainError) -> None:
        self.query_one(".form-box").loading = False
        show_domain_error(self, error, prefix="verify")
        self.query_one("#verify-code", Input).focus()

    def _verified(self, result: accounts.VerificationResult) -> None:
        lines = [self._(result.message, **result.params)]
        lines += [self._(note, **result.params) for note in result.notes]
        self.app.open_flow("login", identifier=self.identifier, notice=" ".join(lines),
                           switch=True)

    @on(TranslatedButton.Pressed, "#verify-resend")
    def action_resend(self) -> None:
        clear_errors(self)
        self.run_service(accounts.resend_verification, self.app.backend, self.identifier,
                         self.app.caller, on_success=self._resent, on_error=self._failed)

    def _resent(self, result: accounts.RequestResult) -> None:
        self.query_one("#verify-notice", TranslatedLabel).set_message(result.message,
                                                                       **result.params)

