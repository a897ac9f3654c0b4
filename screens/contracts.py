""""Vertragsverwaltung" / "Aboverwaltung" (guide 001): linked and expired contracts.

``#contracts-active`` and ``#contracts-expired`` list the linked contracts (valid from, valid
until or "unbefristet", contract number, abo number, status, product); which list a contract
is in comes from today's date (``services.contracts``). ``#contracts-link`` opens the link
dialog (``LinkContractDialog``, a modal screen) after the password check of sensitive actions;
``#contracts-edit`` (or Enter on a row) opens the "Kundenverwaltung" of the selected contract's
customer; ``#contracts-export`` writes the overview as PDF and CSV to the export directory, or
in kiosk mode sends the PDF to the confirmed e-mail address. Record text is plain text, one
line, cut to the column width.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input

from screens.dialogs import ReauthDialog, with_recent_auth
from screens.tables import cell
from screens.widgets import (
    Field,
    FormError,
    KioskModal,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    date_text,
    require,
    show_domain_error,
)
from services import contracts, exports, sessions
from services.errors import N_, DomainError

OPEN_ENDED = exports.OPEN_ENDED
COLUMNS = (  # (key, msgid, display width)
    ("valid_from", N_("Valid from"), 11),
    ("valid_to", N_("Valid until"), 12),
    ("number", N_("Contract number"), 16),
    ("abo", N_("Subscription no."), 15),
    ("status", N_("Contract status"), 16),
    ("product", N_("Product"), 24),
)
INTRO = N_("Here you find your linked subscriptions and contracts. Link a further contract "
           "with the link button; edit your customer data or download an overview.")
INTRO_KIOSK = N_("Here you find your linked subscriptions and contracts. Link a further "
                 "contract with the link button; edit your customer data or have an overview "
                 "sent to you by e-mail.")
MSG_NONE = N_("No contract is linked yet. Choose \"Link contract\" to add one.")
MSG_NONE_EXPIRED = N_("No expired subscriptions or contracts.")
MSG_SELECT = N_("Please link a contract first.")
TABLES = ("contracts-active", "contracts-expired")


def contract_row(node: Any, item: contracts.ContractItem) -> list[Text]:
    """The cells of one contract in the language of ``node``'s app."""
    widths = {key: width for key, _, width in COLUMNS}
    until = date_text(node, item.valid_to) if item.valid_to else Text(node._(OPEN_ENDED))
    status = node._(contracts.STATUS_LABELS.get(item.status, item.status))
    return [date_text(node, item.valid_from), until, cell(item.number, widths["number"]),
            cell(item.abo_number, widths["abo"]), Text(status),
            cell(item.product, widths["product"])]


class ContractsScreen(KioskScreen):
    HELP_ARTICLE = "contracts"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "contracts.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f6", "link", N_("Link contract"), id="link"),
        Binding("f7", "edit", N_("Customer data"), id="edit"),
        Binding("f9", "export", N_("Subscription overview"), id="export"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.lists: contracts.ContractLists | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Subscription management"), classes="form-title")
            yield TranslatedLabel(INTRO_KIOSK if getattr(self.app, "kiosk_mode", False)
                                  else INTRO, classes="form-intro")  # a kiosk mails it
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("🔗 Link contract"), id="contracts-link",
                                       variant="primary")
                yield TranslatedButton(N_("✎ Customer data"), id="contracts-edit")
                yield TranslatedButton(self._export_label(), id="contracts-export")
            yield FormError()
            yield TranslatedLabel("", id="contracts-notice", classes="form-notice")
            yield TranslatedLabel(N_("Linked contracts"), classes="contracts-heading")
            yield DataTable(id="contracts-active", cursor_type="row", zebra_stripes=True)
            yield TranslatedLabel(MSG_NONE, id="contracts-active-empty",
                                  classes="contracts-empty")
            yield TranslatedLabel(N_("Expired subscriptions/contracts"),
                                  classes="contracts-heading")
            yield DataTable(id="contracts-expired", cursor_type="row", zebra_stripes=True)
            yield TranslatedLabel(MSG_NONE_EXPIRED, id="contracts-expired-empty",
                                  classes="contracts-empty")
        yield Footer()

    def _export_label(self) -> str:
        if getattr(self.app, "kiosk_mode", False):
            return N_("Send subscription overview by e-mail")
        return N_("Download subscription overview")

    def on_mount(self) -> None:
        super().on_mount()
        self._set_columns()
        self.query_one("#contracts-link").focus()
        self.load()

    def _set_columns(self) -> None:
        for table_id in TABLES:
            table = self.query_one(f"#{table_id}", DataTable)
            table.clear(columns=True)
            for key, msgid, width in COLUMNS:
                table.add_column(label := self._(msgid), key=key, width=max(width, len(label)))

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self._set_columns()
        if self.lists is not None:
            self._show(self.lists)

    # ----------------------------------------------------------------- lists

    def load(self) -> None:
        self.run_service(contracts.contract_lists, self.app.backend, self.app.session_token,
                         on_success=self._show, on_error=self._failed)

    def _show(self, lists: contracts.ContractLists) -> None:
        self.lists = lists
        for table_id, items in zip(TABLES, (lists.active, lists.expired), strict=True):
            table = self.query_one(f"#{table_id}", DataTable)
            table.clear()
            table.add_rows([contract_row(self, item) for item in items])
            table.set_class(not items, "-empty")
            self.query_one(f"#{table_id}-empty").set_class(bool(items), "-hidden")

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error)

    def _notice(self, msgid: str, **params: object) -> None:
        clear_errors(self)
        self.query_one("#contracts-notice", TranslatedLabel).set_message(msgid, **params)

    # ----------------------------------------------------------------- actions

    @on(TranslatedButton.Pressed, "#contracts-link")
    def action_link(self) -> None:
        self._notice("")
        with_recent_auth(self, self._open_dialog)

    def _open_dialog(self) -> None:
        def done(item: contracts.ContractItem | None) -> None:
            if item is not None:
                self._notice(contracts.MSG_LINKED, number=item.number)
                self.load()

        self.app.push_screen(LinkContractDialog(), done)

    def selected(self) -> str | None:
        """The contract number of the row under the cursor (the focused table first)."""
        if self.lists is None:
            return None
        focused = self.focused if isinstance(self.focused, DataTable) else None
        tables = [focused] if focused is not None else []
        tables += [self.query_one(f"#{t}", DataTable) for t in TABLES]
        for table in tables:
            if table.row_count:
                items = self.lists.active if table.id == TABLES[0] else self.lists.expired
                return items[min(table.cursor_row, len(items) - 1)].number
        return None

    @on(TranslatedButton.Pressed, "#contracts-edit")
    def action_edit(self, number: str | None = None) -> None:
        number = number or self.selected()
        if number is None:
            self._notice(MSG_SELECT)
            return
        self.app.open_flow("contract-customer", number)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if self.lists is None:
            return
        items = self.lists.active if event.data_table.id == TABLES[0] else self.lists.expired
        if 0 <= event.cursor_row < len(items):
            self.action_edit(items[event.cursor_row].number)

    @on(TranslatedButton.Pressed, "#contracts-export")
    def action_export(self) -> None:
        self._notice("")
        service = (exports.mail_overview if getattr(self.app, "kiosk_mode", False)
                   else exports.export_overview)
        self.run_service(service, self.app.backend, self.app.session_token, self.app.caller,
                         on_success=self._exported, on_error=self._failed)

    def _exported(self, result: exports.ExportResult | exports.MailResult) -> None:
        self._notice(result.message, **result.params)


class LinkContractDialog(KioskModal):
    """"Neues Abo verknüpfen": the number first, then birth date, last name and postal code.

    Dismisses with the linked ``ContractItem`` or None (cancelled)."""

    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "contracts.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), id="cancel"),
    ]
    FIELDS = ("contract-number", "contract-birth-date", "contract-last-name",
              "contract-postal-code")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="contract-dialog"):  # scrolls when taller than the terminal
            yield TranslatedLabel(N_("Link a new subscription"), classes="form-title")
            yield Field(N_("Subscription / contract / chip card number"),
                        Input(id="contract-number", max_length=40), required=True)
            with Vertical(id="contract-details", classes="-hidden"):
                yield Field(N_("Birth date"),
                            Input(id="contract-birth-date", max_length=12,
                                  placeholder=self._(N_("DD.MM.YYYY"))), required=True)
                yield Field(N_("Last name"), Input(id="contract-last-name", max_length=120),
                            required=True)
                yield Field(N_("Postal code"), Input(id="contract-postal-code",
                                                     max_length=16), required=True)
            yield FormError()
            yield TranslatedLabel("", id="contract-notice", classes="form-notice")
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Cancel"), id="contract-cancel")
                yield TranslatedButton(N_("Link"), id="contract-submit", variant="primary")
                yield TranslatedButton(N_("Send a request to the service desk"),
                                       id="contract-request-support")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#contract-number", Input).focus()

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self.query_one("#contract-birth-date", Input).placeholder = self._(N_("DD.MM.YYYY"))

    def _values(self) -> dict[str, str]:
        return {name.removeprefix("contract-").replace("-", "_"):
                self.query_one(f"#{name}", Input).value for name in self.FIELDS}

    @on(Input.Changed, "#contract-number")
    def _number_changed(self, event: Input.Changed) -> None:
        if event.value.strip():
            self.query_one("#contract-details").remove_class("-hidden")

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        ids = list(self.FIELDS)
        if event.input.id in ids[:-1]:
            if event.input.id == ids[0]:
                self.query_one("#contract-details").remove_class("-hidden")
            self.query_one(f"#{ids[ids.index(event.input.id) + 1]}", Input).focus()
        else:
            self.action_submit()

    def _require(self) -> bool:
        """Every empty field says so beside it; the details appear once a number is there."""
        ok = require(self, *self.FIELDS)
        self.query_one("#contract-details").remove_class("-hidden")
        return ok

    def _reset(self) -> None:
        clear_errors(self)
        self.query_one("#contract-notice", TranslatedLabel).set_message("")
        self.query_one("#contract-request-support").remove_class("-shown")

    @on(TranslatedButton.Pressed, "#contract-submit")
    def action_submit(self) -> None:
        self._reset()
        if not self._require():
            for name in self.FIELDS:
                if not self.query_one(f"#{name}", Input).value.strip():
                    self.query_one(f"#{name}", Input).focus()
                    break
            return
        self.run_service(contracts.link_contract, self.app.backend, self.app.session_token,
                         self._values(), self.app.caller, on_success=self.dismiss,
                         on_error=self._failed)

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.dismiss(None)
            self.app.session_expired(error)
            return
        if isinstance(error, sessions.ReauthRequired):
            self.app.push_screen(ReauthDialog(),
                                 lambda ok: self.action_submit() if ok else None)
            return
        show_domain_error(self, error, prefix="contract")
        if isinstance(error, contracts.ContractBlocked | contracts.ContractTaken):
            support = self.query_one("#contract-request-support")
            support.add_class("-shown")
            self.call_after_refresh(support.focus)  # once shown: in view and focused

    @on(TranslatedButton.Pressed, "#contract-request-support")
    def action_request_support(self) -> None:
        self.run_service(contracts.request_contract_support, self.app.backend,
                         self.app.session_token, self._values(), self.app.caller,
                         on_success=self._support_sent, on_error=self._failed)

    def _support_sent(self, result: contracts.SupportResult) -> None:
        self._reset()
        self.query_one("#contract-notice", TranslatedLabel).set_message(result.message,
                                                                       **result.params)
        self.query_one("#contract-cancel").focus()

    @on(TranslatedButton.Pressed, "#contract-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def contracts_flow() -> ContractsScreen:
    """Factory for ``KioskApp.FLOWS["contracts"]``."""
    return ContractsScreen()
