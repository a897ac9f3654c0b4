""""Meine Kundendaten" (guide 000): the sections as tabs, all reachable by keyboard.

Name and address (with the phone number) are edited here and saved through
``services.profile.update_profile`` (validated, audited). The e-mail address is shown and
changed in "Meine Einstellungen"; the linked customer numbers open their own screen. Umbrella
organisation, delivery and payment method are kept by the service desk.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, Label, Select, TabbedContent, TabPane

from screens.register import country_options
from screens.widgets import (
    Field,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    language_of,
    plain,
    show_domain_error,
)
from services import profile, sessions
from services.errors import N_, DomainError

TABS = (
    ("tab-name", N_("Name and address")),
    ("tab-email", N_("E-mail")),
    ("tab-numbers", N_("Customer numbers")),
    ("tab-more", N_("Delivery and payment")),
    ("tab-settings", N_("Settings")),
)
INPUTS = (  # (field name, msgid, required, max length)
    ("salutation", N_("Salutation"), False, 40),
    ("first_name", N_("First name"), True, 120),
    ("last_name", N_("Last name"), True, 120),
    ("street", N_("Street and house number"), True, 200),
    ("postal_code", N_("Postal code"), True, 16),
    ("city", N_("City"), True, 120),
    ("phone", N_("Phone number"), False, 40),
)


def _id(name: str) -> str:
    return "profile-" + name.replace("_", "-")


class ProfileScreen(KioskScreen):
    HELP_ARTICLE = "customer-numbers"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "profile.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+s", "save", N_("Save"), id="save"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("My customer data"), classes="form-title")
            with TabbedContent(id="profile-tabs"):
                with TabPane(self._(TABS[0][1]), id=TABS[0][0]):
                    for name, msgid, required, length in INPUTS[:5]:
                        yield Field(msgid, Input(id=_id(name), max_length=length),
                                    required=required)
                    yield Field(N_("Country"), Select(country_options(language_of(self)),
                                                      id="profile-country",
                                                      allow_blank=False, value="DE"),
                                required=True)
                    for name, msgid, required, length in INPUTS[5:]:
                        yield Field(msgid, Input(id=_id(name), max_length=length),
                                    required=required)
                    yield FormError()
                    yield TranslatedLabel("", id="profile-notice", classes="form-notice")
                    with Horizontal(classes="form-buttons"):
                        yield TranslatedButton(N_("Save"), id="profile-submit",
                                               variant="primary")
                with TabPane(self._(TABS[1][1]), id=TABS[1][0]):
                    yield Label("", id="profile-email", classes="form-intro", markup=False)
                    yield TranslatedLabel(N_("You change your e-mail address under "
                                             "\"My settings\"; we send a code to the new "
                                             "address first."), classes="form-intro")
                    yield TranslatedButton(N_("My settings"), id="profile-open-settings")
                with TabPane(self._(TABS[2][1]), id=TABS[2][0]):
                    yield TranslatedLabel(N_("Link further customer numbers with their "
                                             "Freischaltcode, or see the linked ones."),
                                          classes="form-intro")
                    yield TranslatedButton(N_("Linked customer numbers"),
                                           id="profile-open-numbers", variant="primary")
                with TabPane(self._(TABS[3][1]), id=TABS[3][0]):
                    yield TranslatedLabel(N_("Your umbrella organisation, delivery and "
                                             "payment method are kept by the service desk. "
                                             "Please contact it for changes."),
                                          classes="form-intro")
                with TabPane(self._(TABS[4][1]), id=TABS[4][0]):
                    yield TranslatedLabel(N_("Password, e-mail address and release notes."),
                                          classes="form-intro")
                    yield TranslatedButton(N_("My settings"), id="profile-settings")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#profile-first-name", Input).focus()
        self.run_service(profile.get_profile, self.app.backend, self.app.session_token,
                         on_success=self._fill, on_error=self._failed)

    def refresh_texts(self) -> None:
        super().refresh_texts()
        tabs = self.query_one(TabbedContent)
        for pane_id, msgid in TABS:
            tabs.get_tab(pane_id).label = self._(msgid)  # type: ignore[assignment]

    def _fill(self, data: profile.Profile) -> None:
        for name, *_ in INPUTS:
            self.query_one(f"#{_id(name)}", Input).value = getattr(data, name) or ""
        if data.country:
            self.query_one("#profile-country", Select).value = data.country
        self.query_one("#profile-email", Label).update(plain(data.email or ""))

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error, prefix="profile")

    @on(TranslatedButton.Pressed, "#profile-submit")
    @on(Input.Submitted, "#profile-phone")
    def action_save(self) -> None:
        clear_errors(self)
        self.query_one("#profile-notice", TranslatedLabel).set_message("")
        data = {name: self.query_one(f"#{_id(name)}", Input).value for name, *_ in INPUTS}
        country = self.query_one("#profile-country", Select).value
        data["country"] = country if isinstance(country, str) else "DE"
        self.run_service(profile.update_profile, self.app.backend, self.app.session_token,
                         data, self.app.caller, on_success=self._saved, on_error=self._failed)

    def _saved(self, result: profile.ProfileSaved) -> None:
        self._fill(result.profile)
        self.query_one("#profile-notice", TranslatedLabel).set_message(result.message)

    @on(TranslatedButton.Pressed, "#profile-open-numbers")
    def _numbers(self) -> None:
        from screens.customer_numbers import CustomerNumbersScreen

        self.app.push_screen(CustomerNumbersScreen())

    @on(TranslatedButton.Pressed, "#profile-open-settings")
    @on(TranslatedButton.Pressed, "#profile-settings")
    def _settings(self) -> None:
        from screens.home import SettingsScreen

        self.app.push_screen(SettingsScreen())

    def action_back(self) -> None:
        self.app.pop_screen()


def profile_flow() -> ProfileScreen:
    """Factory for ``KioskApp.FLOWS["profile"]``."""
    return ProfileScreen()
