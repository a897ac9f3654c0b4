""""Meine Kundendaten" (guide 000): the sections as tabs, all reachable by keyboard.

* Name and address: ``profile.update_profile`` (validated like the registration, audited).
* E-mail addresses: the login address (changed under "Meine Einstellungen" with a code) and
  further contact addresses, added and removed here.
* Phone numbers: several, each checked with ``phonenumbers`` for the chosen country.
* Umbrella organisation (Dachverband), delivery and payment method: ``profile.update_billing``;
  the IBAN is only ever shown masked, the input stays empty unless a new one is typed.
* Linked customer numbers and the settings open their own screens.

Every list shows record and user text as plain ``Text`` (``screens.tables.cell``).
Errors appear beside their field (``#<input-id>-error``) in the user's language.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input, Select, TabbedContent, TabPane

from screens.labels import country_options
from screens.tables import cell
from screens.widgets import (
    Field,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    language_of,
    show_domain_error,
)
from services import profile, sessions
from services.errors import N_, DomainError

TABS = (
    ("tab-name", N_("Name and address")),
    ("tab-email", N_("E-mail")),
    ("tab-phones", N_("Phone")),
    ("tab-umbrella", N_("Umbrella org.")),
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
)
CONTACT_LABELS = {
    "main": N_("Main number"),
    "login": N_("Login address"),
    "landline": N_("Landline"),
    "mobile": N_("Mobile"),
    "work": N_("Work"),
    "fax": N_("Fax"),
    None: N_("Further address"),
}
DELIVERY_LABELS = {"email": N_("By e-mail"), "post": N_("By post")}
PAYMENT_LABELS = {"invoice": N_("Invoice (bank transfer)"),
                  "direct_debit": N_("SEPA direct debit")}
CONTACT_COLUMNS = ((N_("Kind"), 20), (N_("Phone number or e-mail address"), 60))


def _id(name: str) -> str:
    return "profile-" + name.replace("_", "-")


class ProfileScreen(KioskScreen):
    HELP_ARTICLE = "profile"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "profile.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+s", "save", N_("Save"), id="save"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._data: profile.Profile | None = None

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("My customer data"), classes="form-title")
            yield TranslatedLabel("", id="profile-notice", classes="form-notice")
            with TabbedContent(id="profile-tabs"):
                with TabPane(self._(TABS[0][1]), id=TABS[0][0]):
                    yield from self._name_tab()
                with TabPane(self._(TABS[1][1]), id=TABS[1][0]):
                    yield from self._email_tab()
                with TabPane(self._(TABS[2][1]), id=TABS[2][0]):
                    yield from self._phone_tab()
                with TabPane(self._(TABS[3][1]), id=TABS[3][0]):
                    yield from self._umbrella_tab()
                with TabPane(self._(TABS[4][1]), id=TABS[4][0]):
                    yield TranslatedLabel(N_("Link further customer numbers with their "
                                             "Freischaltcode, or see the linked ones."),
                                          classes="form-intro")
                    yield TranslatedButton(N_("Linked customer numbers"),
                                           id="profile-open-numbers", variant="primary")
                with TabPane(self._(TABS[5][1]), id=TABS[5][0]):
                    yield from self._billing_tab()
                with TabPane(self._(TABS[6][1]), id=TABS[6][0]):
                    yield TranslatedLabel(N_("Password, e-mail address, release notes and "
                                             "connected profiles."), classes="form-intro")
                    yield TranslatedButton(N_("My settings"), id="profile-settings")
            yield FormError()
            yield TranslatedButton(N_("Try again"), id="profile-retry", variant="primary")
        yield Footer()

    def _name_tab(self) -> ComposeResult:
        for name, msgid, required, length in INPUTS[:5]:
            yield Field(msgid, Input(id=_id(name), max_length=length), required=required)
        yield Field(N_("Country"), Select(country_options(language_of(self)),
                                          id="profile-country", allow_blank=False,
                                          value="DE"), required=True)
        for name, msgid, required, length in INPUTS[5:]:
            yield Field(msgid, Input(id=_id(name), max_length=length), required=required)
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Save"), id="profile-submit", variant="primary")

    def _email_tab(self) -> ComposeResult:
        yield TranslatedLabel(N_("Your login address comes first; you change it under "
                                 "\"My settings\" (we send a code to the new address "
                                 "first). Further addresses are for contact only."),
                              classes="form-intro")
        yield DataTable(id="profile-emails-table", cursor_type="row", zebra_stripes=True,
                        classes="profile-list")
        yield Field(N_("Further e-mail address"), Input(id="profile-new-email", max_length=254))
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Add"), id="profile-email-add", variant="primary")
            yield TranslatedButton(N_("Remove selected"), id="profile-email-remove")
            yield TranslatedButton(N_("My settings"), id="profile-open-settings")

    def _phone_tab(self) -> ComposeResult:
        yield TranslatedLabel(N_("The first number is your main number. Choose the country "
                                 "of a number without +prefix."), classes="form-intro")
        yield DataTable(id="profile-phones-table", cursor_type="row", zebra_stripes=True,
                        classes="profile-list")
        with Horizontal(classes="form-row"):
            yield Field(N_("Phone number"), Input(id="profile-phone", max_length=40))
            yield Field(N_("Country"), Select(country_options(language_of(self)),
                                              id="profile-phone-country", allow_blank=False,
                                              value="DE"))
            yield Field(N_("Kind"), Select(self._options(profile.PHONE_LABELS),
                                           id="profile-phone-label", allow_blank=False,
                                           value="landline"))
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Add"), id="profile-phone-add", variant="primary")
            yield TranslatedButton(N_("Remove selected"), id="profile-phone-remove")

    def _umbrella_tab(self) -> ComposeResult:
        yield TranslatedLabel(N_("If you belong to an umbrella organisation (Dachverband), "
                                 "enter its name; leave the field empty otherwise."),
                              classes="form-intro")
        yield Field(N_("Umbrella organisation"),
                    Input(id="profile-umbrella-organisation", max_length=200))
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Save"), id="profile-umbrella-submit", variant="primary")

    def _billing_tab(self) -> ComposeResult:
        yield Field(N_("Delivery method"),
                    Select(self._options(profile.DELIVERY_METHODS, DELIVERY_LABELS),
                           id="profile-delivery-method", allow_blank=False, value="email"),
                    required=True)
        yield Field(N_("Payment method"),
                    Select(self._options(profile.PAYMENT_METHODS, PAYMENT_LABELS),
                           id="profile-payment-method", allow_blank=False, value="invoice"),
                    required=True)
        with Vertical(id="profile-bank"):
            yield TranslatedLabel("", id="profile-iban-current", classes="form-intro")
            yield Field(N_("IBAN"), Input(id="profile-iban", max_length=42),
                        hint=N_("Leave empty to keep the stored IBAN."))
            yield Field(N_("BIC"), Input(id="profile-bic", max_length=14),
                        hint=N_("Filled in from the IBAN when left empty."))
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Save"), id="profile-billing-submit", variant="primary")

    def _options(self, values: tuple[str, ...],
                 labels: dict[Any, str] | None = None) -> list[tuple[str, str]]:
        labels = labels or CONTACT_LABELS
        return [(self._(labels[value]), value) for value in values]

    # ----------------------------------------------------------------- lifecycle

    def on_mount(self) -> None:
        super().on_mount()
        self._set_columns()
        self.query_one("#profile-bank").display = False
        self.query_one("#profile-retry").display = False
        self.query_one("#profile-first-name", Input).focus()
        self._load()

    def _load(self) -> None:
        self.run_service(profile.get_profile, self.app.backend, self.app.session_token,
                         on_success=self._loaded, on_error=self._load_failed)

    def _loaded(self, data: profile.Profile) -> None:
        tabs = self.query_one("#profile-tabs")
        if not tabs.display:  # after "Try again"
            tabs.display = True
            self.query_one("#profile-retry").display = False
            clear_errors(self)
            self.query_one("#profile-first-name", Input).focus()
        self._fill(data)

    def _load_failed(self, error: DomainError) -> None:
        """No data (e.g. the database is away): no empty form that looks like the data — the
        error where it is seen, and a way to try again."""
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        self.query_one("#profile-tabs").display = False
        show_domain_error(self, error, prefix="profile")
        retry = self.query_one("#profile-retry")
        retry.display = True
        retry.focus()
        self.query_one("#form-error").scroll_visible(animate=False)

    @on(TranslatedButton.Pressed, "#profile-retry")
    def _retry(self) -> None:
        self.query_one("#profile-retry").display = False
        clear_errors(self)
        self._load()

    def refresh_texts(self) -> None:
        super().refresh_texts()
        tabs = self.query_one(TabbedContent)
        for pane_id, msgid in TABS:
            tabs.get_tab(pane_id).label = self._(msgid)  # type: ignore[assignment]
        for select_id, values, labels in (
                ("profile-phone-label", profile.PHONE_LABELS, CONTACT_LABELS),
                ("profile-delivery-method", profile.DELIVERY_METHODS, DELIVERY_LABELS),
                ("profile-payment-method", profile.PAYMENT_METHODS, PAYMENT_LABELS)):
            select = self.query_one(f"#{select_id}", Select)
            value = select.value
            select.set_options(self._options(values, labels))
            select.value = value
        self._set_columns()
        if self._data is not None:
            self._fill_lists(self._data)

    def _set_columns(self) -> None:
        for table in self.query(".profile-list").results(DataTable):
            table.clear(columns=True)
            for msgid, width in CONTACT_COLUMNS:
                table.add_column(label := self._(msgid), width=max(width, len(label)))

    # ----------------------------------------------------------------- showing data

    def _fill(self, data: profile.Profile) -> None:
        self._data = data
        for name, *_ in INPUTS:
            self.query_one(f"#{_id(name)}", Input).value = getattr(data, name) or ""
        if data.country:
            self.query_one("#profile-country", Select).value = data.country
            self.query_one("#profile-phone-country", Select).value = data.country
        self.query_one("#profile-umbrella-organisation", Input).value = (
            data.umbrella_organisation or "")
        self.query_one("#profile-delivery-method", Select).value = data.delivery_method or "email"
        self.query_one("#profile-payment-method", Select).value = data.payment_method or "invoice"
        self.query_one("#profile-bic", Input).value = data.bic or ""
        self.query_one("#profile-iban", Input).value = ""
        self._fill_lists(data)

    def _fill_lists(self, data: profile.Profile) -> None:
        for table_id, contacts in (("profile-emails-table", data.emails),
                                   ("profile-phones-table", data.phones)):
            table = self.query_one(f"#{table_id}", DataTable)
            table.clear()
            for contact in contacts:
                label = CONTACT_LABELS.get(contact.label, CONTACT_LABELS[None])
                table.add_row(cell(self._(label), CONTACT_COLUMNS[0][1]),
                              cell(contact.value, CONTACT_COLUMNS[1][1]),
                              key=str(contact.id))
        current = self.query_one("#profile-iban-current", TranslatedLabel)
        if data.iban_masked:
            current.set_message(N_("Stored IBAN: {iban}"), iban=data.iban_masked)
        else:
            current.set_message("")

    @on(Select.Changed, "#profile-payment-method")
    def _payment_changed(self, event: Select.Changed) -> None:
        self.query_one("#profile-bank").display = event.value == "direct_debit"

    # ----------------------------------------------------------------- results

    def _failed(self, error: DomainError, field_ids: dict[str, str] | None = None) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error, prefix="profile", field_ids=field_ids)

    def _saved(self, result: profile.ProfileSaved) -> None:
        self._fill(result.profile)
        self.query_one("#profile-notice", TranslatedLabel).set_message(result.message)

    @on(TabbedContent.TabActivated, "#profile-tabs")
    def _tab_changed(self) -> None:
        """Another tab: the last tab's errors and notice do not belong to it (issue 19.13)."""
        self._start()

    def _start(self) -> None:
        clear_errors(self)
        self.query_one("#profile-notice", TranslatedLabel).set_message("")

    def action_save(self) -> None:
        """ctrl+s saves the form of the open tab."""
        active = self.query_one(TabbedContent).active
        if active in ("tab-umbrella", "tab-more"):
            self._save_billing()
        elif active == "tab-email":
            self._add_email()
        elif active == "tab-phones":
            self._add_phone()
        else:
            self._save_name()

    # ----------------------------------------------------------------- name and address

    @on(TranslatedButton.Pressed, "#profile-submit")
    @on(Input.Submitted, "#profile-city")
    def _save_name(self) -> None:
        self._start()
        data = {name: self.query_one(f"#{_id(name)}", Input).value for name, *_ in INPUTS}
        country = self.query_one("#profile-country", Select).value
        data["country"] = country if isinstance(country, str) else "DE"
        self.run_service(profile.update_profile, self.app.backend, self.app.session_token,
                         data, self.app.caller, on_success=self._saved, on_error=self._failed)

    # ----------------------------------------------------------------- e-mail, phones

    @on(TranslatedButton.Pressed, "#profile-email-add")
    @on(Input.Submitted, "#profile-new-email")
    def _add_email(self) -> None:
        self._start()
        value = self.query_one("#profile-new-email", Input).value

        def added(result: profile.ProfileSaved) -> None:
            self.query_one("#profile-new-email", Input).value = ""
            self._saved(result)

        self.run_service(profile.add_email, self.app.backend, self.app.session_token, value,
                         self.app.caller, on_success=added,
                         on_error=lambda e: self._failed(e, {"email": "profile-new-email"}))

    @on(TranslatedButton.Pressed, "#profile-phone-add")
    @on(Input.Submitted, "#profile-phone")
    def _add_phone(self) -> None:
        self._start()
        value = self.query_one("#profile-phone", Input).value
        country = self.query_one("#profile-phone-country", Select).value
        label = self.query_one("#profile-phone-label", Select).value

        def added(result: profile.ProfileSaved) -> None:
            self.query_one("#profile-phone", Input).value = ""
            self._saved(result)

        self.run_service(profile.add_phone, self.app.backend, self.app.session_token, value,
                         country if isinstance(country, str) else "DE",
                         label if isinstance(label, str) else None, self.app.caller,
                         on_success=added, on_error=self._failed)

    @on(TranslatedButton.Pressed, "#profile-email-remove")
    def _remove_email(self) -> None:
        self._remove("email", "profile-emails-table")

    @on(TranslatedButton.Pressed, "#profile-phone-remove")
    def _remove_phone(self) -> None:
        self._remove("phone", "profile-phones-table")

    def _remove(self, kind: str, table_id: str) -> None:
        self._start()
        table = self.query_one(f"#{table_id}", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if kind == "email" and key == str(profile.MAIN_PHONE):
            self.query_one("#profile-new-email-error").show(  # type: ignore[attr-defined]
                self._(N_("You change your login address under \"My settings\".")))
            return
        self.run_service(profile.remove_contact, self.app.backend, self.app.session_token,
                         kind, int(str(key)), self.app.caller, on_success=self._saved,
                         on_error=self._failed)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row of a list offers its removal button."""
        button = {"profile-emails-table": "#profile-email-remove",
                  "profile-phones-table": "#profile-phone-remove"}.get(event.data_table.id or "")
        if button:
            self.query_one(button).focus()

    # ----------------------------------------------------------------- umbrella, billing

    @on(TranslatedButton.Pressed, "#profile-umbrella-submit")
    @on(TranslatedButton.Pressed, "#profile-billing-submit")
    @on(Input.Submitted, "#profile-umbrella-organisation")
    @on(Input.Submitted, "#profile-bic")
    def _save_billing(self) -> None:
        self._start()
        data: dict[str, Any] = {
            name: self.query_one(f"#{_id(name)}", Input).value
            for name in ("umbrella_organisation", "iban", "bic")}
        for name in ("delivery_method", "payment_method"):
            value = self.query_one(f"#{_id(name)}", Select).value
            data[name] = value if isinstance(value, str) else None
        self.run_service(profile.update_billing, self.app.backend, self.app.session_token,
                         data, self.app.caller, on_success=self._saved, on_error=self._failed)

    # ----------------------------------------------------------------- navigation

    @on(TranslatedButton.Pressed, "#profile-open-numbers")
    def _numbers(self) -> None:
        self.app.open_flow("customer-numbers")

    @on(TranslatedButton.Pressed, "#profile-open-settings")
    @on(TranslatedButton.Pressed, "#profile-settings")
    def _settings(self) -> None:
        self.app.open_flow("settings")

    def action_back(self) -> None:
        self.app.pop_screen()


def profile_flow() -> ProfileScreen:
    """Factory for ``KioskApp.FLOWS["profile"]``."""
    return ProfileScreen()
