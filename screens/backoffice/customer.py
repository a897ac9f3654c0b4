"""The customer view (record, linked accounts, contracts, licences, memberships, merges,
requests, consents, activation codes, audit trail) and the account view, with the desk's
actions on single keys, each confirmed first. Record text is always plain text."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from screens.backoffice.common import STATES, DeskMixin, human, queue_label
from screens.backoffice.dialogs import CodeDialog, ConfirmDialog, InputDialog, NoteDialog
from screens.backoffice.privacy import PRIVACY_BINDINGS, PRIVACY_STATUS, PrivacyDeskActions
from screens.labels import CUSTOMER_TYPE_LABELS
from screens.tables import cell
from screens.widgets import KioskScreen, date_text, plain
from services import backoffice, backoffice_actions, contracts
from services.errors import N_, DomainError, NotFound

SUPERVISOR_KEYS = ("r", "z")  # reassign, reverse a merge
MSG_SUPERVISORS_ONLY = N_("For supervisors only.")

ACCOUNT_COLUMNS = (("username", N_("User name"), 16), ("email", N_("E-mail address"), 26),
                   ("name", N_("Name"), 20), ("status", N_("Status"), 10),
                   ("sessions", N_("Sessions"), 8), ("login", N_("Last login"), 11))
ACCOUNT_STATUS = {"active": N_("active"), "locked": N_("locked"),
                  "unverified": N_("not confirmed"), "disabled": N_("disabled"),
                  "pending_approval": N_("waiting for approval"), "invited": N_("invited"),
                  **PRIVACY_STATUS}
TABLES: dict[str, tuple[str, tuple[tuple[str, str, int], ...]]] = {
    # table id -> (tab title, columns)
    "cv-accounts": (N_("Accounts"), ACCOUNT_COLUMNS),
    "cv-contracts": (N_("Contracts"), (("number", N_("Contract number"), 14),
                                       ("product", N_("Product"), 24),
                                       ("from", N_("Valid from"), 11),
                                       ("to", N_("Valid until"), 12),
                                       ("status", N_("Status"), 10),
                                       ("user", N_("Linked to"), 16))),
    "cv-licences": (N_("Licences"), (("product", N_("Product"), 30),
                                     ("until", N_("Valid until"), 12),
                                     ("by", N_("Redeemed by"), 16),
                                     ("at", N_("Redeemed on"), 12))),
    "cv-memberships": (N_("Memberships"), (("email", N_("E-mail address"), 30),
                                           ("role", N_("Role"), 12),
                                           ("state", N_("State"), 16),
                                           ("since", N_("Since"), 11))),
    "cv-merges": (N_("Merges"), (("id", N_("No."), 6), ("kept", N_("Kept"), 12),
                                 ("merged", N_("Merged"), 12), ("status", N_("Status"), 10),
                                 ("at", N_("Date"), 11), ("rev", N_("Reversible"), 10))),
    "cv-requests": (N_("Requests"), (("id", N_("No."), 6), ("kind", N_("Queue"), 30),
                                     ("status", N_("Status"), 10),
                                     ("subject", N_("Subject"), 30),
                                     ("at", N_("Received"), 11))),
    "cv-consents": (N_("Consents"), (("kind", N_("Consent"), 14),
                                     ("granted", N_("Given"), 8),
                                     ("version", N_("Version"), 10),
                                     ("at", N_("Date"), 11))),
    "cv-codes": (N_("Activation codes"), (("created", N_("Created"), 11),
                                          ("until", N_("Valid until"), 12),
                                          ("state", N_("State"), 12))),
    "cv-audit": (N_("Audit trail"), (("at", N_("Date"), 11), ("event", N_("Event"), 24),
                                     ("outcome", N_("Outcome"), 10),
                                     ("actor", N_("By"), 14), ("details", N_("Details"), 34))),
}
CODE_STATE = {"open": N_("valid"), "used": N_("used"), "revoked": N_("revoked"),
              "expired": N_("expired")}
YES, NO = N_("yes"), N_("no")
ACCOUNT_BINDINGS: list[BindingType] = [
    Binding("l", "unlock", N_("Unlock"), id="desk-unlock"),
    Binding("v", "resend", N_("Resend"), id="desk-resend"),
    Binding("p", "reset", N_("Password"), id="desk-reset"),
    Binding("x", "end_sessions", N_("Sessions"), id="desk-end-sessions"),
]


def setup_table(screen: Any, table_id: str, columns: tuple[tuple[str, str, int], ...]) -> DataTable:
    table = screen.query_one(f"#{table_id}", DataTable)
    table.clear(columns=True)
    for key, msgid, width in columns:
        table.add_column(label := screen._(msgid), key=key, width=max(width, len(label)))
    return table


def account_cells(screen: Any, row: backoffice.AccountRow) -> list[Text]:
    status = screen._(ACCOUNT_STATUS.get(row.status, row.status))
    if row.login_frozen and row.status != "locked":
        status += " *"
    return [cell(row.username, 16), cell(row.email, 26), cell(row.name, 20), cell(status, 10),
            cell(str(row.open_sessions), 8),
            date_text(screen, row.last_login_at) if row.last_login_at else Text("")]


class AccountActions(PrivacyDeskActions, DeskMixin):
    """Unlock, resend confirmation, password reset, end sessions for the selected account."""

    accounts: list[backoffice.AccountRow]

    def selected_account(self) -> backoffice.AccountRow | None:
        screen: Any = self
        if not self.accounts:
            screen.app.notify(screen._(N_("No user account is linked.")), markup=False)
            return None
        table = screen.query_one(".desk-accounts", DataTable)
        index = table.cursor_row if 0 <= table.cursor_row < len(self.accounts) else 0
        return self.accounts[index]

    def reload(self) -> None:
        raise NotImplementedError

    def _account_action(self, question: str, fn: Any) -> None:
        account = self.selected_account()
        if account is None:
            return
        screen: Any = self

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.desk_call(fn, account.id, then=lambda _result: self.reload())

        screen.app.push_screen(ConfirmDialog(question, {"user": account.username or
                                                        account.email or ""}), confirmed)

    def action_unlock(self) -> None:
        self._account_action(N_("Unlock the account {user}?"), backoffice_actions.unlock_account)

    def action_resend(self) -> None:
        self._account_action(N_("Send the confirmation e-mail to {user} again?"),
                             backoffice_actions.resend_confirmation)

    def action_reset(self) -> None:
        self._account_action(N_("Send {user} an e-mail to set a new password?"),
                             backoffice_actions.start_password_reset)

    def action_end_sessions(self) -> None:
        self._account_action(N_("End every session of {user}?"),
                             backoffice_actions.end_sessions)

    def account_palette(self) -> list[tuple[str, Any, str]]:
        return [
            (N_("Unlock the account"), self.action_unlock, N_("After too many wrong passwords")),
            (N_("Resend the confirmation e-mail"), self.action_resend,
             N_("For an account that is not confirmed yet")),
            (N_("Start a password reset"), self.action_reset,
             N_("The user gets an e-mail to set a new password")),
            (N_("End the user's sessions"), self.action_end_sessions,
             N_("The user must log in again")),
            *self.privacy_palette(),
        ]


class CustomerScreen(AccountActions, KioskScreen):
    HELP_ARTICLE = "backoffice"
    CSS_PATH = "backoffice.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("n", "new_code", N_("New code"), id="desk-new-code"),
        Binding("u", "unfreeze", N_("Unfreeze"), id="desk-unfreeze"),
        Binding("a", "unlink_contract", N_("Unlink contract"), id="desk-unlink-contract"),
        *ACCOUNT_BINDINGS,
        Binding("r", "reassign", N_("Reassign"), id="desk-reassign"),
        Binding("z", "reverse_merge", N_("Reverse"), id="desk-reverse"),
        *PRIVACY_BINDINGS,
        Binding("i", "show_iban", N_("Show IBAN"), id="desk-show-iban", show=False),
    ]

    def __init__(self, customer_id: int, contract: str | None = None) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.contract = contract  # the contract the agent came for (an objection), or chosen
        self.iban: str | None = None  # the full IBAN after a deliberate, audited "i"
        self.view: backoffice.CustomerView | None = None
        self.role = "agent"
        self.accounts = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="cv-body"):
            yield Static("", id="cv-title")
            yield Static("", id="cv-record")
            with TabbedContent(id="cv-tabs"):
                for table_id, (title, _columns) in TABLES.items():
                    with TabPane(self._(title), id=f"{table_id}-tab"):
                        classes = "desk-accounts" if table_id == "cv-accounts" else ""
                        yield DataTable(id=table_id, cursor_type="row", classes=classes)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.reload()

    def refresh_texts(self) -> None:
        super().refresh_texts()
        tabs = self.query_one("#cv-tabs", TabbedContent)
        for table_id, (title, _columns) in TABLES.items():
            tabs.get_tab(f"{table_id}-tab").label = self._(title)
        if self.view is not None:
            self._show(self.view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reassign", "reverse_merge") and self.role != "supervisor":
            return False  # not offered to agents; the key says why (on_key)
        return True

    def on_key(self, event: events.Key) -> None:
        if event.key in SUPERVISOR_KEYS and self.role != "supervisor":
            event.stop()
            self.app.notify(self._(MSG_SUPERVISORS_ONLY), severity="warning", markup=False)

    @on(DataTable.RowHighlighted, "#cv-contracts")
    def _contract_chosen(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.has_focus and self.view is not None \
                and 0 <= event.cursor_row < len(self.view.contracts):
            self.contract = self.view.contracts[event.cursor_row].number

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        commands = [
            (N_("New activation code"), self.action_new_code,
             N_("Revoke the old codes and print a letter")),
            (N_("Unfreeze the activation code"), self.action_unfreeze,
             N_("After too many wrong codes")),
            (N_("End the contract link"), self.action_unlink_contract,
             N_("The selected contract is no longer linked to its user account")),
            (N_("Show IBAN"), self.action_show_iban, N_("The full IBAN; this is recorded")),
            *self.account_palette(),
        ]
        if self.role == "supervisor":
            commands += [
                (N_("Reassign the customer number"), self.action_reassign,
                 N_("Move the number to another user account")),
                (N_("Reverse the merge"), self.action_reverse_merge,
                 N_("Within 30 days of the merge")),
            ]
        return commands

    # -- loading --------------------------------------------------------------------------
    def reload(self) -> None:
        self.desk_load("desk-view", backoffice.customer_view, self.customer_id,
                       then=self._show)
        self.desk_load("desk-role", backoffice.whoami, then=self._role)

    def _role(self, agent: backoffice.AgentInfo) -> None:
        self.role = agent.role
        self.refresh_bindings()

    def desk_failed(self, error: DomainError | None) -> None:
        super().desk_failed(error)
        if isinstance(error, NotFound) and self.is_attached and self.view is None:
            self.app.pop_screen()  # the record is gone

    def _show(self, view: backoffice.CustomerView) -> None:
        self.view = view
        self.accounts = view.accounts
        title = Text(self._(N_("Customer number")) + f" {view.number} · ", style="bold")
        title.append_text(plain(view.name))
        if view.merged_into:
            title.append(" · " + self._(N_("merged into {number}"), number=view.merged_into),
                         style="bold red")
        if view.code_frozen:
            title.append(" · " + self._(N_("activation code frozen")), style="bold red")
        self.query_one("#cv-title", Static).update(title)
        record = Text()
        for msgid, value in view.record:
            if value:
                record.append(f"{self._(msgid)}: ", style="dim")
                record.append_text(self._record_value(msgid, value))
                record.append("   ")
        self.query_one("#cv-record", Static).update(record)
        self._fill(view)

    def _record_value(self, msgid: str, value: str) -> Text:
        """Dates as TT.MM.JJJJ, customer types by their translated name, else plain text."""
        if msgid == "Date of birth":
            return date_text(self, dt.date.fromisoformat(value))
        if msgid == "Customer type" and value in CUSTOMER_TYPE_LABELS:
            return Text(self._(CUSTOMER_TYPE_LABELS[value]))
        if msgid == "IBAN":  # masked as on the customer's side; "i" shows it (audited)
            if self.iban:
                return plain(self.iban)
            shown = plain(value)
            shown.append(" (" + self._(N_("i: show")) + ")", style="dim")
            return shown
        return plain(value.replace("\n", " "))

    def _fill(self, view: backoffice.CustomerView) -> None:
        d = lambda value: date_text(self, value) if value else Text("")  # noqa: E731
        rows: dict[str, list[list[Text]]] = {
            "cv-accounts": [account_cells(self, a) for a in view.accounts],
            "cv-contracts": [[cell(c.number, 14), cell(c.product, 24), d(c.valid_from),
                              d(c.valid_to) if c.valid_to else cell(self._(N_("open-ended")), 12),
                              cell(human(self, c.status, STATES), 10), cell(c.linked_to, 16)] for c in view.contracts],
            "cv-licences": [[cell(lic.product, 30), d(lic.valid_until), cell(lic.redeemed_by, 16),
                             d(lic.redeemed_at)] for lic in view.licences],
            "cv-memberships": [[cell(m.email, 30), cell(human(self, m.role, STATES), 12),
                                cell(human(self, m.state, STATES), 16),
                                d(m.created_at)] for m in view.memberships],
            "cv-merges": [[cell(m.id, 6), cell(m.kept, 12), cell(m.merged, 12),
                           cell(human(self, m.status, STATES), 10), d(m.created_at),
                           cell(self._(YES if m.reversible else NO), 10)] for m in view.merges],
            "cv-requests": [[cell(r.id, 6), cell(queue_label(self, r.kind), 30), cell(human(self, r.status, STATES), 10),
                             cell(self._(r.subject) if r.subject else "", 30), d(r.created_at)]
                            for r in view.requests],
            "cv-consents": [[cell(human(self, c.kind, STATES), 14), cell(self._(YES if c.granted else NO), 8),
                             cell(c.text_version, 10), d(c.created_at)] for c in view.consents],
            "cv-codes": [[d(c.created_at), d(c.valid_until),
                          cell(self._(CODE_STATE[c.state]), 12)] for c in view.codes],
            "cv-audit": [[d(e.at), cell(e.event, 24), cell(e.outcome, 10), cell(e.actor, 14),
                          cell(e.details, 34)] for e in view.audit],
        }
        for table_id, (_title, columns) in TABLES.items():
            table = setup_table(self, table_id, columns)
            for row in rows[table_id]:
                table.add_row(*row)

    # -- actions --------------------------------------------------------------------------
    def action_show_iban(self) -> None:
        def shown(iban: str) -> None:
            self.iban = iban or None
            if self.view is not None:
                self._show(self.view)

        self.desk_load("desk-iban", backoffice.reveal_iban, self.customer_id, then=shown)

    def _confirm(self, question: str, then: Any, params: dict[str, object] | None = None
                 ) -> None:
        if self.view is None:
            return
        values = {"number": self.view.number, **(params or {})}

        def confirmed(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmDialog(question, values), confirmed)

    def action_new_code(self) -> None:
        def run() -> None:
            self.desk_call(backoffice_actions.issue_activation_code, self.customer_id,
                           self.app.caller, then=self._issued)  # type: ignore[attr-defined]

        self._confirm(N_("Issue a new activation code for {number}? Earlier codes stop "
                         "working."), run)

    def _issued(self, issued: backoffice_actions.IssuedCode) -> None:
        self.app.push_screen(CodeDialog(issued.number, issued.code,
                                        date_text(self, issued.valid_until).plain,
                                        issued.letter))
        self.reload()

    def action_unfreeze(self) -> None:
        self._confirm(N_("Unfreeze the activation code of {number}?"), lambda: self.desk_call(
            backoffice_actions.unfreeze_code, self.customer_id,
            then=lambda _result: self.reload()))

    def action_unlink_contract(self) -> None:
        """ "Vertragsverknüpfung aufheben" for the selected contract (or the only linked one):
        confirmed with an optional note for the user, who is told by mail."""
        if self.view is None:
            return
        linked = [c for c in self.view.contracts if c.linked_to]
        table = self.query_one("#cv-contracts", DataTable)
        # the contract the agent chose (or came for); the table's first row is no choice
        if table.has_focus and 0 <= table.cursor_row < len(self.view.contracts):
            self.contract = self.view.contracts[table.cursor_row].number
        chosen = next((c for c in linked if c.number == self.contract), None)
        if chosen is None and len(linked) == 1 and self.contract is None:
            chosen = linked[0]
        if chosen is None:
            self.query_one("#cv-tabs", TabbedContent).active = "cv-contracts-tab"
            table.focus()
            self.app.notify(self._(N_("Please select a linked contract first.") if linked
                                   else N_("No contract of this customer is linked.")),
                            markup=False)
            return
        contract = chosen

        def confirmed(note: str | None) -> None:
            if note is not None:
                self.desk_call(contracts.unlink_contract, self.customer_id, contract.number,
                               self.app.caller, note,  # type: ignore[attr-defined]
                               then=lambda _result: self.reload())

        self.app.push_screen(NoteDialog(
            N_("End the link of contract {contract} to {user}? The user is told by mail. "
               "Note for the user (optional):"), required=False,
            params={"contract": contract.number, "user": contract.linked_to or ""},
            submit=N_("End link")), confirmed)

    def action_reassign(self) -> None:
        if self.role != "supervisor" or self.view is None:
            return
        app: Any = self.app

        def find(value: str) -> tuple[int, str]:
            choices = backoffice_actions.linked_account_choices(app.backend, app.session_token,
                                                                value)
            if len(choices) != 1:
                raise NotFound(N_("Please enter the exact user name or e-mail address of "
                                  "one user account."), fields={"value": N_(
                                      "Please enter the exact user name or e-mail address of "
                                      "one user account.")})
            return choices[0]

        def chosen(choice: tuple[int, str] | None) -> None:
            if choice is None:
                return
            account_id, label = choice
            self._confirm(N_("Move the customer number {number} to {user}? Both users are "
                             "told by mail."),
                          lambda: self.desk_call(backoffice_actions.reassign_number,
                                                 self.customer_id, account_id,
                                                 then=lambda _result: self.reload()),
                          {"user": label})

        app.push_screen(InputDialog(N_("Reassign the customer number"),
                                    N_("User name or e-mail address of the new account"),
                                    "reassign-account", check=find), chosen)

    def action_reverse_merge(self) -> None:
        if self.role != "supervisor" or self.view is None:
            return
        merges = self.view.merges
        table = self.query_one("#cv-merges", DataTable)
        if not merges:
            self.app.notify(self._(N_("There is no merge to reverse.")), markup=False)
            return
        merge = merges[table.cursor_row if 0 <= table.cursor_row < len(merges) else -1]
        self._confirm(N_("Reverse the merge of {merged} into {kept}?"), lambda: self.desk_call(
            backoffice_actions.reverse_merge, merge.id, self.app.caller,  # type: ignore[attr-defined]
            then=lambda _result: self.reload()), {"merged": merge.merged, "kept": merge.kept})


class AccountScreen(AccountActions, KioskScreen):
    """A portal account found by e-mail or user name: its state, its numbers, its actions."""

    HELP_ARTICLE = "backoffice"
    CSS_PATH = "backoffice.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        *ACCOUNT_BINDINGS,
        *PRIVACY_BINDINGS,
    ]

    def __init__(self, account_id: int) -> None:
        super().__init__()
        self.account_id = account_id
        self.accounts = []
        self.numbers: list[tuple[int, str]] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="cv-body"):
            yield Static("", id="av-title")
            yield DataTable(id="av-account", cursor_type="row", classes="desk-accounts")
            yield Static("", id="av-numbers-title")
            yield DataTable(id="av-numbers", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.reload()

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        return self.account_palette()

    def reload(self) -> None:
        self.desk_load("desk-view", backoffice.account_view, self.account_id, then=self._show)

    def _show(self, view: backoffice.AccountView) -> None:
        self.accounts, self.numbers = [view.account], view.numbers
        title = Text(self._(N_("User account")) + " · ", style="bold")
        title.append_text(plain(view.account.name or view.account.username or ""))
        self.query_one("#av-title", Static).update(title)
        table = setup_table(self, "av-account", ACCOUNT_COLUMNS)
        table.add_row(*account_cells(self, view.account))
        self.query_one("#av-numbers-title", Static).update(
            Text(self._(N_("Linked customer numbers (Enter opens the customer)"))))
        numbers = setup_table(self, "av-numbers", (("number", N_("Customer number"), 20),))
        for cid, number in view.numbers:
            numbers.add_row(cell(number, 20), key=str(cid))

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self.reload()

    @on(DataTable.RowSelected, "#av-numbers")
    def _open(self, event: DataTable.RowSelected) -> None:
        self.open_customer(int(str(event.row_key.value)))
