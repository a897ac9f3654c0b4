"""Organisations (guide 003): employees register for their company's customer account.

Welcome "Noch kein Benutzer?" → ``OrgRegisterScreen`` (e-mail, customer number, postal code,
``#orgreg-next``; "Ich habe einen Code" ``#orgreg-have-code`` for a code from one of our
mails) → ``OrgDetailsScreen`` (names, privacy statement, marketing, ``#orgreg-submit``) →
``OrgCodeScreen`` (the confirmation code; then ``OrgWaitingScreen``: the request waits for the
company's super admin). After the approval the completion code from the mail leads through
``OrgCompletionScreen``: welcome ("Weiter"), terms of use, privacy statement, password → login.

The admins' screen (members, approvals queue) lives in ``screens.org_admin``, a flow of
its own (``organisation_flow``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, ContentSwitcher, Footer, Input

from screens.widgets import (
    Field,
    FieldError,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    require,
    show_domain_error,
)
from services import organisations
from services.errors import N_, DomainError, ValidationFailed

PRIVACY_LABEL = N_("I have read the privacy statement and agree to it *")
MARKETING_LABEL = N_("Yes, I agree to receive information and offers by e-mail (optional)")
PRIVACY_TEXT = N_(
    "Privacy statement: we process your name and e-mail address to give you access to your "
    "company's customer account and to inform the admins of your company about your request. "
    "Your company's super admins see your name, your e-mail address and when you registered. "
    "You can read the full privacy statement at the service desk or on our website.")
TERMS_TEXT = N_(
    "Terms of use: the customer portal is available to the employees of our customers. "
    "You keep your password secret and use the portal only for your company. Your company's "
    "admins decide who belongs to the company account and can remove access at any time. "
    "You can read the full terms of use at the service desk or on our website.")
FORM_CSS: ClassVar[list[str]] = ["forms.tcss", "organisation.tcss"]


def _focus_first_error(screen: Screen[Any], error: DomainError, ids: dict[str, str],
                       fallback: str | None = None) -> None:
    """Focus the first field at fault, else ``fallback`` (the focus is always the same)."""
    for name in error.fields:
        if name in ids:
            screen.query_one(f"#{ids[name]}").focus()
            return
    if fallback:
        screen.query_one(f"#{fallback}").focus()


class _OrgForm(KioskScreen):
    """Shared parts: the back binding, the help article, value reading, error display."""

    HELP_ARTICLE = "organisation"
    CSS_PATH = FORM_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", N_("Back"), id="back")]
    FIELD_IDS: ClassVar[dict[str, str]] = {}

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _busy(self, busy: bool) -> None:
        self.query_one(".form-box").loading = busy

    def _failed(self, error: DomainError) -> None:
        self._busy(False)
        show_domain_error(self, error, field_ids=self.FIELD_IDS)
        _focus_first_error(self, error, self.FIELD_IDS,
                           next(iter(self.FIELD_IDS.values()), None))

    def _require(self, *widget_ids: str) -> bool:
        return require(self, *widget_ids, focus=True)


# --------------------------------------------------------------------------- step 1


class OrgRegisterScreen(_OrgForm):
    """E-mail, customer number and postal code of the company account."""

    FIELD_IDS: ClassVar[dict[str, str]] = {
        "customer_number": "orgreg-customer-number", "email": "orgreg-email",
        "postal_code": "orgreg-postal-code"}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Register for your company"), classes="form-title")
            yield TranslatedLabel(
                N_("Register as an employee of a company that is already our customer. You "
                   "need the customer number of your company (on our quotes and invoices) and "
                   "its postal code. Your e-mail address must not be registered with us yet."),
                classes="form-intro")
            yield Field(N_("E-mail address"), Input(id="orgreg-email", max_length=254),
                        required=True)
            yield Field(N_("Customer number"),
                        Input(id="orgreg-customer-number", max_length=32), required=True)
            yield Field(N_("Postal code"), Input(id="orgreg-postal-code", max_length=16),
                        required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Next"), id="orgreg-next", variant="primary")
                yield TranslatedButton(N_("I have a code"), id="orgreg-have-code")
                yield TranslatedButton(N_("Back"), id="orgreg-back")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#orgreg-email", Input).focus()

    @on(Input.Submitted, "#orgreg-email")
    @on(Input.Submitted, "#orgreg-customer-number")
    def _next_field(self) -> None:
        self.focus_next()

    def data(self) -> dict[str, str]:
        return {"email": self._value("orgreg-email"),
                "customer_number": self._value("orgreg-customer-number"),
                "postal_code": self._value("orgreg-postal-code")}

    @on(Input.Submitted, "#orgreg-postal-code")
    @on(TranslatedButton.Pressed, "#orgreg-next")
    def action_submit(self) -> None:
        clear_errors(self)
        try:
            organisations.validate_company(self.data())
        except ValidationFailed as error:
            self._failed(error)
            return
        self._busy(True)
        self.run_service(organisations.check_company, self.app.backend, self.data(),
                         self.app.caller, on_success=self._matched, on_error=self._failed)

    def _matched(self, match: organisations.CompanyMatch) -> None:
        self._busy(False)
        self.app.push_screen(OrgDetailsScreen(self.data(), match.company))

    @on(TranslatedButton.Pressed, "#orgreg-have-code")
    def _have_code(self) -> None:
        self.app.push_screen(OrgCodeScreen(self._value("orgreg-email")))

    @on(TranslatedButton.Pressed, "#orgreg-back")
    def _back(self) -> None:
        self.action_back()


# --------------------------------------------------------------------------- step 2


class OrgDetailsScreen(_OrgForm):
    """Names, privacy statement (required) and marketing consent (optional)."""

    FIELD_IDS: ClassVar[dict[str, str]] = {
        "first_name": "orgreg-first-name", "last_name": "orgreg-last-name",
        "privacy": "orgreg-privacy", "email": "orgreg-first-name"}

    def __init__(self, company_data: dict[str, str], company: str) -> None:
        super().__init__()
        self.company_data = company_data
        self.company = company

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Register for your company"), classes="form-title")
            yield TranslatedLabel(N_("Company: {company}"), {"company": self.company},
                                  id="orgreg-company", classes="form-intro")
            with Horizontal(classes="form-row"):
                yield Field(N_("First name"), Input(id="orgreg-first-name", max_length=120),
                            required=True)
                yield Field(N_("Last name"), Input(id="orgreg-last-name", max_length=120),
                            required=True)
            yield TranslatedLabel(PRIVACY_TEXT, classes="form-intro")
            yield Checkbox("", id="orgreg-privacy")
            yield FieldError(id="orgreg-privacy-error")
            yield Checkbox("", id="orgreg-marketing")
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("REGISTER"), id="orgreg-submit", variant="primary")
                yield TranslatedButton(N_("Back"), id="orgreg-details-back")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._checkbox_labels()
        self.query_one("#orgreg-first-name", Input).focus()

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self._checkbox_labels()

    def _checkbox_labels(self) -> None:
        self.query_one("#orgreg-privacy", Checkbox).label = self._(PRIVACY_LABEL)
        self.query_one("#orgreg-marketing", Checkbox).label = self._(MARKETING_LABEL)

    @on(Input.Submitted, "#orgreg-first-name")
    @on(Input.Submitted, "#orgreg-last-name")
    def _next_field(self) -> None:
        self.focus_next()

    @on(TranslatedButton.Pressed, "#orgreg-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        data: dict[str, Any] = {
            **self.company_data,
            "first_name": self._value("orgreg-first-name"),
            "last_name": self._value("orgreg-last-name"),
            "privacy": self.query_one("#orgreg-privacy", Checkbox).value,
            "marketing": self.query_one("#orgreg-marketing", Checkbox).value,
        }
        try:
            organisations.validate_person(data)
        except ValidationFailed as error:
            self._failed(error)
            return
        self._busy(True)
        self.run_service(organisations.submit_registration, self.app.backend, data,
                         self.app.caller, on_success=self._submitted, on_error=self._failed)

    def _submitted(self, result: organisations.Result) -> None:
        self._busy(False)
        self.app.switch_screen(OrgCodeScreen(self.company_data["email"],
                                             notice=(result.message, result.params)))

    @on(TranslatedButton.Pressed, "#orgreg-details-back")
    def _back(self) -> None:
        self.action_back()


# --------------------------------------------------------------------------- the mailed code


class OrgCodeScreen(_OrgForm):
    """The code from our mail: the confirmation code or, after the approval, the completion
    code. ``#orgcode-resend`` asks for a new one."""

    FIELD_IDS: ClassVar[dict[str, str]] = {"email": "orgcode-email", "code": "orgcode-code"}

    def __init__(self, email: str = "", notice: tuple[str, dict[str, Any]] | None = None
                 ) -> None:
        super().__init__()
        self.email = email
        self.notice = notice or ("", {})

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Enter the code from our e-mail"), classes="form-title")
            yield TranslatedLabel(self.notice[0], self.notice[1], id="orgcode-notice",
                                  classes="form-notice")
            yield TranslatedLabel(
                N_("Enter your e-mail address and the code from our e-mail: the confirmation "
                   "code after your registration, or the code to complete your registration "
                   "after your company's approval."), classes="form-intro")
            yield Field(N_("E-mail address"), Input(self.email, id="orgcode-email",
                                                    max_length=254), required=True)
            yield Field(N_("Code"), Input(id="orgcode-code", max_length=32), required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Confirm"), id="orgcode-submit", variant="primary")
                yield TranslatedButton(N_("Request a new code"), id="orgcode-resend")
                yield TranslatedButton(N_("Back"), id="orgcode-back")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#orgcode-code" if self.email else "#orgcode-email", Input).focus()

    @on(Input.Submitted, "#orgcode-email")
    def _next_field(self) -> None:
        self.focus_next()

    @on(Input.Submitted, "#orgcode-code")
    @on(TranslatedButton.Pressed, "#orgcode-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        if not self._require("orgcode-email", "orgcode-code"):
            return
        self._busy(True)
        self.run_service(organisations.redeem_code, self.app.backend,
                         self._value("orgcode-email"), self._value("orgcode-code"),
                         self.app.caller, on_success=self._redeemed, on_error=self._code_failed)

    def _code_failed(self, error: DomainError) -> None:
        self.query_one("#orgcode-code", Input).value = ""
        self._failed(error)

    def _redeemed(self, result: organisations.CodeResult) -> None:
        self._busy(False)
        if result.stage == "waiting":
            self.app.switch_screen(OrgWaitingScreen(result.company, result.message))
        else:
            self.app.switch_screen(OrgCompletionScreen(result.email, result.finish or "",
                                                       result.company))

    @on(TranslatedButton.Pressed, "#orgcode-resend")
    def action_resend(self) -> None:
        clear_errors(self)
        if not self._require("orgcode-email"):
            return
        self.run_service(organisations.resend_code, self.app.backend,
                         self._value("orgcode-email"), self.app.caller,
                         on_success=self._resent, on_error=self._failed)

    def _resent(self, result: organisations.Result) -> None:
        self.query_one("#orgcode-notice", TranslatedLabel).set_message(result.message,
                                                                        **result.params)
        self.query_one("#orgcode-code", Input).focus()

    @on(TranslatedButton.Pressed, "#orgcode-back")
    def _back(self) -> None:
        self.action_back()


def _to_welcome(screen: KioskScreen) -> None:
    """Back to a fresh welcome screen, every input wiped (a kiosk is shared)."""
    screen.app.run_worker(screen.app.wipe(), exclusive=True, group="wipe")  # type: ignore[attr-defined]


class OrgWaitingScreen(_OrgForm):
    """Confirmed: the request now waits for the company's super admin."""

    def __init__(self, company: str, message: str = organisations.MSG_WAITING) -> None:
        super().__init__()
        self.company = company
        self.message = message or organisations.MSG_WAITING  # who decides, as it really is

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Registration confirmed"), classes="form-title")
            yield TranslatedLabel(N_("Company: {company}"), {"company": self.company},
                                  classes="form-intro")
            yield TranslatedLabel(self.message, id="orgwait-message",
                                  classes="form-notice")
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Back to the start page"), id="orgwait-done",
                                       variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#orgwait-done").focus()

    @on(TranslatedButton.Pressed, "#orgwait-done")
    def _done(self) -> None:
        _to_welcome(self)


# --------------------------------------------------------------------------- completion


class OrgCompletionScreen(_OrgForm):
    """After the approval: welcome → terms of use → privacy statement → password."""

    FIELD_IDS: ClassVar[dict[str, str]] = {"password": "orgdone-password",
                                           "password_confirm": "orgdone-password-confirm"}

    def __init__(self, email: str, finish: str, company: str) -> None:
        super().__init__()
        self.email = email
        self.finish = finish
        self.company = company

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Complete your registration"), classes="form-title")
            with ContentSwitcher(initial="orgdone-step-welcome", id="orgdone-steps"):
                with Vertical(id="orgdone-step-welcome", classes="orgdone-step"):
                    yield TranslatedLabel(
                        N_("Welcome! Your company {company} has approved your access. Three "
                           "short steps remain: the terms of use, the privacy statement and "
                           "your password."), {"company": self.company}, classes="form-intro")
                    yield TranslatedButton(N_("Next"), id="orgdone-next", variant="primary")
                with Vertical(id="orgdone-step-terms", classes="orgdone-step"):
                    yield TranslatedLabel(N_("Terms of use"), classes="form-subtitle")
                    yield TranslatedLabel(TERMS_TEXT, classes="form-intro")
                    yield TranslatedButton(N_("Accept and continue"), id="orgdone-terms-accept",
                                           variant="primary")
                with Vertical(id="orgdone-step-privacy", classes="orgdone-step"):
                    yield TranslatedLabel(N_("Privacy statement"), classes="form-subtitle")
                    yield TranslatedLabel(PRIVACY_TEXT, classes="form-intro")
                    yield TranslatedButton(N_("Accept and continue"),
                                           id="orgdone-privacy-accept", variant="primary")
                with Vertical(id="orgdone-step-password", classes="orgdone-step"):
                    yield TranslatedLabel(N_("Set your password"), classes="form-subtitle")
                    yield TranslatedLabel(
                        N_("At least 15 characters; a sentence of several words is easy to "
                           "remember. Your e-mail address is your login name."),
                        classes="form-intro")
                    yield Field(N_("Password"), Input(id="orgdone-password", password=True,
                                                      max_length=300), required=True)
                    yield Field(N_("Confirm password"),
                                Input(id="orgdone-password-confirm", password=True,
                                      max_length=300), required=True)
                    yield TranslatedButton(N_("Complete registration"), id="orgdone-submit",
                                           variant="primary")
            yield FormError()
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#orgdone-next").focus()

    def _show_step(self, step: str, focus: str) -> None:
        clear_errors(self)
        self.query_one("#orgdone-steps", ContentSwitcher).current = step
        self.query_one(f"#{focus}").focus()

    @on(TranslatedButton.Pressed, "#orgdone-next")
    def _to_terms(self) -> None:
        self._show_step("orgdone-step-terms", "orgdone-terms-accept")

    @on(TranslatedButton.Pressed, "#orgdone-terms-accept")
    def _to_privacy(self) -> None:
        self._show_step("orgdone-step-privacy", "orgdone-privacy-accept")

    @on(TranslatedButton.Pressed, "#orgdone-privacy-accept")
    def _to_password(self) -> None:
        self._show_step("orgdone-step-password", "orgdone-password")

    @on(Input.Submitted, "#orgdone-password")
    def _next_field(self) -> None:
        self.query_one("#orgdone-password-confirm").focus()

    @on(Input.Submitted, "#orgdone-password-confirm")
    @on(TranslatedButton.Pressed, "#orgdone-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        if not self._require("orgdone-password", "orgdone-password-confirm"):
            return
        data = {"terms": True, "privacy": True, "password": self._value("orgdone-password"),
                "password_confirm": self._value("orgdone-password-confirm")}
        self._busy(True)
        self.run_service(organisations.complete_registration, self.app.backend, self.email,
                         self.finish, data, self.app.caller, on_success=self._completed,
                         on_error=self._password_failed)

    def _password_failed(self, error: DomainError) -> None:
        for widget_id in ("orgdone-password", "orgdone-password-confirm"):
            self.query_one(f"#{widget_id}", Input).value = ""
        self._failed(error)

    def _completed(self, result: organisations.Result) -> None:
        self._busy(False)
        self.app.open_flow("login", identifier=self.email,
                           notice=self._(result.message, **result.params), switch=True)


# --------------------------------------------------------------------------- flows


def org_register_flow() -> OrgRegisterScreen:
    """Factory for ``KioskApp.FLOWS["org-register"]`` (welcome ``#welcome-org-register``)."""
    return OrgRegisterScreen()
