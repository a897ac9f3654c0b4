""""Zugeordnete Kundennummern" (guide 000): link a customer number with its Freischaltcode.

The form (``#link-code``, ``#link-number``, ``#link-submit``) asks for the password again
first when it is older than 5 minutes (``with_recent_auth``). The two conflicts of the guide
appear below the fields with ``#link-request-support``, which sends a request to the service
desk. The table ``#customer-numbers-table`` shows every linked number; record text is always
plain ``rich.text.Text``, cleaned of control characters and cut to the column width.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input

from screens.dialogs import UnlinkDialog, with_recent_auth
from screens.labels import CUSTOMER_TYPE_LABELS
from screens.tables import cell
from screens.widgets import (
    Field,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    date_text,
    require,
    show_domain_error,
)
from services import customer_numbers, sessions
from services.errors import N_, DomainError

INTRO = N_("To connect an additional customer number to your profile, enter your "
           "Freischaltcode and the customer number here. You will find the Freischaltcode "
           "and the customer number on your invoice.")
HINT = N_("You can also get both, with their validity date, from your account manager.")
COLUMNS = (  # (key, msgid, display width)
    ("number", N_("Customer number"), 15),
    ("type", N_("Type"), 16),
    ("name", N_("Name"), 24),
    ("address", N_("Address"), 26),
    ("since", N_("Linked since"), 14),
)


class CustomerNumbersScreen(KioskScreen):
    HELP_ARTICLE = "customer-numbers"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "customer_numbers.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f8", "unlink", N_("Unlink number"), id="unlink"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Linked customer numbers"), classes="form-title")
            yield DataTable(id="customer-numbers-table", cursor_type="row", zebra_stripes=True)
            yield TranslatedLabel(N_("FREISCHALTCODE"), classes="form-title")
            yield TranslatedLabel(INTRO, classes="form-intro")
            yield TranslatedLabel(HINT, classes="form-intro")
            yield Field(N_("Freischaltcode"), Input(id="link-code", max_length=64),
                        required=True)
            yield Field(N_("Customer number"), Input(id="link-number", max_length=32),
                        required=True)
            yield FormError()
            yield TranslatedLabel("", id="link-notice", classes="form-notice")
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("LINK"), id="link-submit", variant="primary")
                yield TranslatedButton(N_("Send a request to the service desk"),
                                       id="link-request-support")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._set_columns()
        self.query_one("#link-code", Input).focus()
        self.load()

    def _set_columns(self) -> None:
        table = self.query_one("#customer-numbers-table", DataTable)
        table.clear(columns=True)
        for key, msgid, width in COLUMNS:
            table.add_column(label := self._(msgid), key=key, width=max(width, len(label)))

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self._set_columns()
        self.load()

    # ----------------------------------------------------------------- table

    def load(self) -> None:
        self.run_service(customer_numbers.linked_numbers, self.app.backend,
                         self.app.session_token, on_success=self._show, on_error=self._failed)

    def _show(self, numbers: list[customer_numbers.LinkedNumber]) -> None:
        table = self.query_one("#customer-numbers-table", DataTable)
        table.clear()
        for item in numbers:
            self._add_row(item)

    def _add_row(self, item: customer_numbers.LinkedNumber) -> None:
        table = self.query_one("#customer-numbers-table", DataTable)
        widths = {key: width for key, _, width in COLUMNS}
        table.add_row(cell(item.number, widths["number"]),
                      cell(self._type_label(item.type), widths["type"]),
                      cell(item.name, widths["name"]), cell(item.address, widths["address"]),
                      date_text(self, item.linked_at), key=item.number)

    def _type_label(self, customer_type: str) -> str:
        label = CUSTOMER_TYPE_LABELS.get(customer_type)
        return self._(label) if label else customer_type

    # ----------------------------------------------------------------- linking

    def _values(self) -> tuple[str, str]:
        return (self.query_one("#link-code", Input).value,
                self.query_one("#link-number", Input).value)

    def _require(self) -> bool:
        return require(self, "link-code", "link-number")

    def _reset_messages(self) -> None:
        clear_errors(self)
        self.query_one("#link-notice", TranslatedLabel).set_message("")
        self.query_one("#link-request-support").remove_class("-shown")

    @on(Input.Submitted, "#link-code")
    def _next(self) -> None:
        self.query_one("#link-number", Input).focus()

    @on(Input.Submitted, "#link-number")
    @on(TranslatedButton.Pressed, "#link-submit")
    def action_submit(self) -> None:
        self._reset_messages()
        if not self._require():
            return
        with_recent_auth(self, self._link)

    def _link(self) -> None:
        code, number = self._values()
        self.run_service(customer_numbers.link_customer_number, self.app.backend,
                         self.app.session_token, code, number, self.app.caller,
                         on_success=self._linked, on_error=self._link_failed)

    def _linked(self, item: customer_numbers.LinkedNumber) -> None:
        self.query_one("#link-code", Input).value = ""
        self.query_one("#link-number", Input).value = ""
        self._add_row(item)
        self.query_one("#link-notice", TranslatedLabel).set_message(
            customer_numbers.MSG_LINKED, number=item.number)
        self.query_one("#link-code", Input).focus()

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error, prefix="link")

    def _link_failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.ReauthRequired):
            with_recent_auth(self, self._link)
            return
        if "type" in error.params:
            error.params["type"] = self._type_label(str(error.params["type"]))
        self._failed(error)
        if isinstance(error, customer_numbers.LinkConflict):
            support = self.query_one("#link-request-support")
            support.add_class("-shown")
            self.call_after_refresh(support.focus)  # once shown: in view and focused
        else:
            self.query_one("#link-code", Input).focus()

    @on(TranslatedButton.Pressed, "#link-request-support")
    def action_request_support(self) -> None:
        code, number = self._values()
        self.run_service(customer_numbers.request_link_support, self.app.backend,
                         self.app.session_token, code, number, self.app.caller,
                         on_success=self._support_sent, on_error=self._link_failed)

    def _support_sent(self, result: customer_numbers.SupportResult) -> None:
        self._reset_messages()
        self.query_one("#link-notice", TranslatedLabel).set_message(result.message,
                                                                   **result.params)
        self.query_one("#link-code", Input).focus()

    # ----------------------------------------------------------------- unlinking

    def action_unlink(self) -> None:
        table = self.query_one("#customer-numbers-table", DataTable)
        if not table.row_count:
            return
        number = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

        def done(result: str | None) -> None:
            if result:
                self._reset_messages()
                self.query_one("#link-notice", TranslatedLabel).set_message(
                    customer_numbers.MSG_UNLINKED, number=result)
                self.load()

        self.app.push_screen(UnlinkDialog(number), done)



def customer_numbers_flow() -> CustomerNumbersScreen:
    """Factory for ``KioskApp.FLOWS["customer-numbers"]``."""
    return CustomerNumbersScreen()
