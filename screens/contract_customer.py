""""Kundenverwaltung" (guide 001): the customer data of a linked contract and the advertising
consent ("Werbe-Einwilligung").

"Allgemein": salutation, gender, name, birth date; the consent checkbox with its history
(when, text version, terminal; every change is a new row). "Kontakt und Adresse": address,
recipient, recorded on (read only), phone and office phone. Saving asks for the password when
it is older than 5 minutes and goes through ``services.contracts.update_customer_data``.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, Collapsible, DataTable, Footer, Input, Label, Select

from screens.dialogs import with_recent_auth
from screens.labels import country_options
from screens.tables import cell
from screens.widgets import (
    Field,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    date_text,
    language_of,
    plain,
    reveal,
    show_domain_error,
)
from services import contracts, sessions
from services.errors import N_, DomainError
from services.i18n import format_date, format_datetime

GENERAL = (  # (field name, msgid, required, max length)
    ("salutation", N_("Salutation"), False, 40),
    ("first_name", N_("First name"), True, 120),
    ("last_name", N_("Last name"), True, 120),
    ("birth_date", N_("Birth date"), False, 12),
)
CONTACT = (
    ("street", N_("Street and house number"), True, 200),
    ("postal_code", N_("Postal code"), True, 16),
    ("city", N_("City"), True, 120),
    ("recipient", N_("Recipient"), False, 200),
    ("phone", N_("Phone"), False, 40),
    ("phone_work", N_("Phone (office)"), False, 40),
)
CONSENT_TEXT = N_("I agree that the transport company may inform me about offers and news "
                  "by e-mail, post or phone. I can withdraw this consent at any time.")
HISTORY = (("at", N_("When"), 18), ("granted", N_("Consent"), 14),
           ("version", N_("Text version"), 14), ("terminal", N_("Terminal"), 20))


def _id(name: str) -> str:
    return "customer-" + name.replace("_", "-")


class CustomerDataScreen(KioskScreen):
    HELP_ARTICLE = "contracts"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "contracts.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+s", "save", N_("Save"), id="save"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def __init__(self, contract_number: str) -> None:
        super().__init__()
        self.contract_number = contract_number
        self.data: contracts.CustomerData | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Customer management"), classes="form-title")
            yield TranslatedLabel(N_("Contract {number}"), {"number": self.contract_number},
                                  classes="form-intro")
            with Collapsible(title=self._(N_("General")), collapsed=False,
                             id="customer-general"):
                with Horizontal(classes="form-row"):
                    yield self._input(GENERAL[0])
                    yield Field(N_("Gender"), Select(self._genders(), id="customer-gender",
                                                     prompt=self._(N_("not stated"))))
                with Horizontal(classes="form-row"):
                    yield self._input(GENERAL[1])
                    yield self._input(GENERAL[2])
                yield Field(GENERAL[3][1], Input(id="customer-birth-date", max_length=12,
                                                 placeholder=self._(N_("DD.MM.YYYY"))))
                yield TranslatedLabel(N_("Advertising consent"), classes="contracts-heading")
                yield TranslatedLabel(CONSENT_TEXT, classes="form-intro")
                yield Checkbox(self._(N_("Advertising consent")), id="customer-advertising")
                yield DataTable(id="customer-consents", cursor_type="row",
                                zebra_stripes=True)
            with Collapsible(title=self._(N_("Contact and address")), collapsed=False,
                             id="customer-contact"):
                yield self._input(CONTACT[0])
                with Horizontal(classes="form-row"):
                    yield self._input(CONTACT[1])
                    yield self._input(CONTACT[2])
                yield Field(N_("Country"), Select(country_options(language_of(self)),
                                                  id="customer-country", allow_blank=False,
                                                  value="DE"), required=True)
                with Horizontal(classes="form-row"):
                    yield self._input(CONTACT[3])
                    with Vertical(classes="customer-recorded"):
                        yield TranslatedLabel(N_("Recorded on"), classes="field-label")
                        yield Label("", id="customer-recorded-on", markup=False)
                with Horizontal(classes="form-row"):
                    yield self._input(CONTACT[4])
                    yield self._input(CONTACT[5])
            yield FormError()
            yield TranslatedLabel("", id="customer-notice", classes="form-notice")
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Save"), id="customer-submit", variant="primary")
                yield TranslatedButton(N_("Back"), id="customer-back")
        yield Footer()

    @staticmethod
    def _input(spec: tuple[str, str, bool, int]) -> Field:
        name, msgid, required, length = spec
        return Field(msgid, Input(id=_id(name), max_length=length), required=required)

    def _genders(self) -> list[tuple[str, str]]:
        return [(self._(label), key) for key, label in contracts.GENDERS.items()]

    def on_mount(self) -> None:
        super().on_mount()
        self._set_columns()
        self.query_one("#customer-salutation", Input).focus()
        self.run_service(contracts.customer_data, self.app.backend, self.app.session_token,
                         self.contract_number, on_success=self._fill, on_error=self._failed)

    def _set_columns(self) -> None:
        table = self.query_one("#customer-consents", DataTable)
        table.clear(columns=True)
        for key, msgid, width in HISTORY:
            table.add_column(label := self._(msgid), key=key, width=max(width, len(label)))

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self.query_one("#customer-general", Collapsible).title = self._(N_("General"))
        self.query_one("#customer-contact", Collapsible).title = self._(
            N_("Contact and address"))
        self.query_one("#customer-advertising", Checkbox).label = self._(
            N_("Advertising consent"))
        gender = self.query_one("#customer-gender", Select)
        value = gender.value
        gender.set_options(self._genders())
        if isinstance(value, str):
            gender.value = value
        self.query_one("#customer-birth-date", Input).placeholder = self._(N_("DD.MM.YYYY"))
        self._set_columns()
        if self.data is not None:
            self._fill(self.data)

    # ----------------------------------------------------------------- data

    def _fill(self, data: contracts.CustomerData) -> None:
        self.data = data
        for name, *_ in (*GENERAL, *CONTACT):
            value = getattr(data, name)
            if name == "birth_date":
                value = format_date(value, "de")  # typed as TT.MM.JJJJ in both languages
            self.query_one(f"#{_id(name)}", Input).value = value or ""
        gender = self.query_one("#customer-gender", Select)
        if data.gender in contracts.GENDERS:
            gender.value = data.gender
        else:
            gender.clear()
        if data.country:
            self.query_one("#customer-country", Select).value = data.country
        self.query_one("#customer-recorded-on", Label).update(date_text(self, data.recorded_on))
        checkbox = self.query_one("#customer-advertising", Checkbox)
        with checkbox.prevent(Checkbox.Changed):
            checkbox.value = data.advertising
        self._history(data.consents)

    def _history(self, entries: list[contracts.ConsentEntry]) -> None:
        table = self.query_one("#customer-consents", DataTable)
        table.clear()
        language = language_of(self)
        for entry in entries:
            table.add_row(Text(format_datetime(entry.at, language)),
                          Text(self._(N_("given") if entry.granted else N_("withdrawn"))),
                          plain(entry.text_version), cell(entry.terminal_id, 20))
        table.set_class(not entries, "-empty")

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error, prefix="customer")

    def _values(self) -> dict[str, object]:
        data: dict[str, object] = {name: self.query_one(f"#{_id(name)}", Input).value
                                   for name, *_ in (*GENERAL, *CONTACT)}
        gender = self.query_one("#customer-gender", Select).value
        data["gender"] = gender if isinstance(gender, str) else None
        country = self.query_one("#customer-country", Select).value
        data["country"] = country if isinstance(country, str) else "DE"
        return data

    # ----------------------------------------------------------------- actions

    @on(TranslatedButton.Pressed, "#customer-submit")
    def action_save(self) -> None:
        clear_errors(self)
        self.query_one("#customer-notice", TranslatedLabel).set_message("")
        with_recent_auth(self, self._save)

    def _save(self) -> None:
        self.run_service(contracts.update_customer_data, self.app.backend,
                         self.app.session_token, self.contract_number, self._values(),
                         self.app.caller, on_success=self._saved, on_error=self._failed)

    def _saved(self, result: contracts.Saved) -> None:
        self._fill(result.data)
        notice = self.query_one("#customer-notice", TranslatedLabel)
        notice.set_message(result.message)
        reveal(notice)  # "nothing was changed" lies below the form on a small terminal

    @on(Checkbox.Changed, "#customer-advertising")
    def _consent(self, event: Checkbox.Changed) -> None:
        clear_errors(self)
        self.run_service(contracts.set_advertising_consent, self.app.backend,
                         self.app.session_token, self.contract_number, event.value,
                         self.app.caller, on_success=self._saved, on_error=self._consent_failed)

    def _consent_failed(self, error: DomainError) -> None:
        if self.data is not None:
            self._fill(self.data)
        self._failed(error)

    @on(TranslatedButton.Pressed, "#customer-back")
    def _back(self) -> None:
        self.action_back()
