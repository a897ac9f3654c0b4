""""Meine Produkte" (guide 002): redeem an online key and see the products per kind.

* ``#redeem-key`` groups the key as it is typed (``XXXX-XXXX-XXXX-XXXX``); the format is
  checked here with the service's own ``check_format`` before any database call.
* ``#products-licences``, ``#products-downloads``, ``#products-journals``: DataTables with
  product, activated on and valid until; every cell is ``rich.text.Text`` (never markup).
* "Zur Nutzung" (Enter on a row, the button or F6) opens ``UsageDialog``: the access address,
  the instructions and a QR code drawn with half blocks from ``segno``'s matrix.
"""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import RowDoesNotExist

from screens.qr import qr_text
from screens.widgets import (
    Field,
    FormError,
    KioskModal,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    date_text,
    plain,
    show_domain_error,
)
from services import products, sessions
from services.errors import N_, DomainError

#: DataTable id per product kind, and the heading shown above it.
TABLES = {
    "licence": ("products-licences", products.SECTIONS["licence"]),
    "download": ("products-downloads", products.SECTIONS["download"]),
    "journal": ("products-journals", products.SECTIONS["journal"]),
}
COLUMNS = (N_("Product"), N_("Activated on"), N_("Valid until"))
MSG_EMPTY_LIST = N_("No products here yet.")
MSG_OPEN_ENDED = N_("open-ended")
MSG_NO_SELECTION = N_("Please choose a product in one of the lists first.")
MSG_NO_ADDRESS = N_("This product has no online address. Please follow the instructions.")


class KeyInput(Input):
    """An input that groups a licence key as it is typed: ``XXXX-XXXX-XXXX-XXXX``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("placeholder", "XXXX-XXXX-XXXX-XXXX")
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def replace(self, text: str, start: int, end: int) -> None:
        """Every edit (a key, a paste, a scanner's burst, a deletion) is grouped at once, from
        the current value: characters that arrive before an earlier edit's Changed message
        is handled are never lost. The cursor stays after the same key characters."""
        value = self.value
        start, end = sorted((max(0, start), min(len(value), end)))
        typed = products.group_key(f"{value[:start]}{text}")
        grouped = products.group_key(f"{value[:start]}{text}{value[end:]}")
        count = len(typed.replace("-", ""))
        self.value = grouped
        self.cursor_position = min(len(grouped),
                                   count + max(0, count - 1) // products.KEY_GROUP)

    def on_input_changed(self, event: Input.Changed) -> None:
        grouped = products.group_key(self.value)  # a value set by the program
        if grouped != self.value:
            self.value = grouped
            self.cursor_position = len(grouped)


class ProductsScreen(KioskScreen):
    HELP_ARTICLE = "products"
    CSS_PATH = ["forms.tcss", "products.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f6", "use", N_("Open for use"), id="use"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.lists = products.ProductLists()
        self.by_row: dict[str, products.OwnedProduct] = {}
        self.last_table = TABLES["licence"][0]
        self.notice: tuple[str, dict[str, Any]] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("My products"), classes="form-title")
            yield TranslatedLabel("", id="products-notice", classes="form-notice")
            yield TranslatedLabel(N_("Redeem online key"), classes="products-heading")
            yield TranslatedLabel(
                N_("Enter the online key you received. The licence is activated at once."),
                classes="form-intro")
            yield Field(N_("Online key"), KeyInput(id="redeem-key"), required=True,
                        hint=N_("16 letters and digits; upper or lower case, with or without "
                                "dashes."))
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Redeem online key"), id="redeem-submit",
                                       variant="primary")
                yield TranslatedButton(N_("Open for use"), id="products-use")
                yield TranslatedButton(N_("Back"), id="products-back")
            for table_id, heading in TABLES.values():
                yield TranslatedLabel(heading, classes="products-heading",
                                      id=f"{table_id}-heading")
                table: DataTable[Text] = DataTable(id=table_id, cursor_type="row",
                                                   classes="products-table")
                yield table
                yield TranslatedLabel(MSG_EMPTY_LIST, id=f"{table_id}-empty",
                                      classes="products-empty")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._fill_tables()
        self.query_one("#redeem-key", Input).focus()
        self._load()

    # -- lists ------------------------------------------------------------------------------
    def _load(self, focus_kind: str | None = None, focus_id: int | None = None) -> None:
        def loaded(lists: products.ProductLists) -> None:
            self.lists = lists
            self._fill_tables()
            if focus_kind is not None:
                self._focus_row(focus_kind, focus_id)

        self.run_service(products.list_products, self.app.backend, self.app.session_token,
                         on_success=loaded, on_error=self._failed)

    def _fill_tables(self) -> None:
        self.by_row = {}
        for kind, (table_id, _heading) in TABLES.items():
            table = self.query_one(f"#{table_id}", DataTable)
            table.clear(columns=True)
            for label in COLUMNS:
                table.add_column(Text(self._(label)), key=label)
            items = self.lists.of(kind)
            for item in items:
                key = f"{kind}-{item.id}"
                self.by_row[key] = item
                until = (date_text(self, item.valid_until) if item.valid_until
                         else Text(self._(MSG_OPEN_ENDED)))
                table.add_row(plain(item.name), date_text(self, item.activated_at), until,
                              key=key)
            table.display = bool(items)
            self.query_one(f"#{table_id}-empty").display = not items

    def _focus_row(self, kind: str, item_id: int | None) -> None:
        table_id = TABLES[kind][0]
        table = self.query_one(f"#{table_id}", DataTable)
        if item_id is not None:
            with suppress(RowDoesNotExist):  # not listed (reloaded meanwhile)
                table.move_cursor(row=table.get_row_index(f"{kind}-{item_id}"))
        self.last_table = table_id
        # the new row is highlighted and in view; the cursor stays in the key field for the
        # next key (issue 19.13)
        table.scroll_visible(animate=False)
        self.query_one("#redeem-key", Input).focus()

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self._fill_tables()
        self._show_notice()

    # -- redeeming --------------------------------------------------------------------------
    @on(Input.Submitted, "#redeem-key")
    @on(TranslatedButton.Pressed, "#redeem-submit")
    def action_redeem(self) -> None:
        clear_errors(self)
        self.notice = None
        self._show_notice()
        raw = self.query_one("#redeem-key", Input).value
        try:
            products.check_format(raw)
        except products.KeyFormatError as error:
            self._failed(error)
            return
        self.query_one("#redeem-submit").disabled = True
        self.run_service(products.redeem_key, self.app.backend, self.app.session_token, raw,
                         self.app.caller, on_success=self._redeemed, on_error=self._failed)

    def _redeemed(self, result: products.RedeemResult) -> None:
        self.query_one("#redeem-submit").disabled = False
        self.query_one("#redeem-key", Input).value = ""
        self.notice = (result.message, {"name": result.name, "section": result.section})
        self._show_notice()
        self._load(focus_kind=result.kind, focus_id=None)

    def _show_notice(self) -> None:
        label = self.query_one("#products-notice", TranslatedLabel)
        if self.notice is None:
            label.set_message("")
            return
        msgid, params = self.notice
        label.update(plain(self._(msgid, **{k: self._(v) if k == "section" else v
                                            for k, v in params.items()})))

    def _failed(self, error: DomainError) -> None:
        self.query_one("#redeem-submit").disabled = False
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        section = error.params.get("section")
        if section:
            error.params["section"] = self._(section)
        date = error.params.get("date")
        if date:
            error.params["date"] = date_text(self, dt.date.fromisoformat(date)).plain
        show_domain_error(self, error, prefix="redeem", field_ids={"key": "redeem-key"})
        if "key" in error.fields:  # said beside the field; not twice
            self.query_one(FormError).clear()
        self.query_one("#redeem-key", Input).focus()

    # -- "Zur Nutzung" ----------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _remember(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id:
            self.last_table = event.data_table.id

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self._open(str(event.row_key.value))

    @on(TranslatedButton.Pressed, "#products-use")
    def action_use(self) -> None:
        table = self.query_one(f"#{self.last_table}", DataTable)
        if table.row_count == 0:
            tables = [t for t in self.query(".products-table").results(DataTable) if t.row_count]
            if not tables:
                self.query_one(FormError).show(self._(MSG_NO_SELECTION))
                return
            table = tables[0]
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        self._open(str(row_key.value))

    def _open(self, key: str) -> None:
        item = self.by_row.get(key)
        if item is not None:
            self.app.push_screen(UsageDialog(item))

    @on(TranslatedButton.Pressed, "#products-back")
    def action_back(self) -> None:
        self.app.pop_screen()


class UsageDialog(KioskModal):
    """"Zur Nutzung": where and how to use the product, with a QR code for a phone."""

    HELP_ARTICLE = "products"
    CSS_PATH = "products.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", N_("Close"), id="close"),
    ]

    def __init__(self, item: products.OwnedProduct) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        item = self.item
        with VerticalScroll(id="usage-box"):
            yield Static(plain(item.name), id="usage-name", classes="form-title", markup=False)
            if item.access_url:
                yield TranslatedLabel(N_("Access address:"), classes="usage-label")
                yield Static(plain(item.access_url), id="usage-url", markup=False)
            else:
                yield TranslatedLabel(MSG_NO_ADDRESS, id="usage-url")
            if item.instructions:
                yield Static(plain(item.instructions), id="usage-instructions", markup=False)
            if item.access_url:
                yield TranslatedLabel(N_("Scan the code to continue on your phone:"),
                                      classes="usage-label")
                yield Static(Text(qr_text(item.access_url), style="#000000 on #ffffff",
                                  no_wrap=True), id="usage-qr", markup=False)
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Close"), id="usage-close", variant="primary")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#usage-close").focus()

    @on(TranslatedButton.Pressed, "#usage-close")
    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["KeyInput", "ProductsScreen", "UsageDialog", "qr_text"]
