"""The service desk's main screen: search as you type, the queues, the dashboard (tabs).

Every service call runs in a thread worker; the search is debounced (0.25 s) and exclusive,
so only the latest query's answer is shown. Record text is shown as plain text (``cell``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import (
    DataTable,
    Footer,
    Input,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from screens.backoffice.common import DeskMixin, detail_line, queue_label
from screens.backoffice.dialogs import InputDialog, NoteDialog
from screens.backoffice.objection import OPEN_CUSTOMER, ObjectionDialog, ObjectionDoneDialog
from screens.tables import cell
from screens.widgets import KioskScreen, TranslatedLabel, date_text, plain
from services import backoffice, contracts, privacy
from services.errors import N_

DEBOUNCE = 0.25
REFRESH = 30.0
RESULT_COLUMNS = (  # (key, msgid, width)
    ("kind", N_("Kind"), 8),
    ("number", N_("Customer number"), 12),
    ("name", N_("Name"), 23),
    ("place", N_("City"), 20),
    ("email", N_("E-mail address"), 22),
    ("matched", N_("Found by"), 12),
)
MATCHED = {
    "number": N_("Customer number"), "name": N_("Name"), "postal_code": N_("Postal code"),
    "email": N_("E-mail address"), "contract": N_("Contract number"),
    "username": N_("User name"),
}
ITEM_COLUMNS = (  # the subject, the details and the comments show below the table
    ("id", N_("No."), 5), ("status", N_("Status"), 10), ("number", N_("Customer number"), 12),
    ("account", N_("User"), 18), ("created", N_("Received"), 10),
)
STATUS = {"open": N_("open"), "taken": N_("taken")}
SERIES = (
    ("registrations", N_("Registrations per day")),
    ("links", N_("Linked customer numbers and contracts per day")),
    ("redemptions", N_("Redeemed licence keys per day")),
    ("failures", N_("Failed attempts per day")),
)


class JumpToNumber(Provider):
    """Command palette: "Open customer 100001" for whatever number is typed."""

    async def search(self, query: str) -> Hits:
        screen = self.screen
        number = query.strip()
        if not isinstance(screen, DeskMixin) or len(number) < 3 or " " in number:
            return
        title = screen._(N_("Open customer number {number}"), number=number)
        yield Hit(1.0, Text(title), lambda: screen.open_number(number),
                  help=screen._(N_("Jump to the customer with this number")))


class DeskScreen(DeskMixin, KioskScreen):
    HELP_ARTICLE = "backoffice"
    CSS_PATH = "backoffice.tcss"
    COMMANDS: ClassVar[set[Any]] = {JumpToNumber}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "show_tab('desk-tab-search')", N_("Search"), id="desk-search-tab"),
        Binding("f6", "show_tab('desk-tab-queues')", N_("Queues"), id="desk-queues-tab"),
        Binding("f7", "show_tab('desk-tab-dashboard')", N_("Dashboard"), id="desk-dashboard-tab"),
        Binding("f8", "jump", N_("Go to customer"), id="desk-jump"),
        Binding("f9", "objection", N_("Objection"), id="desk-objection"),
        Binding("ctrl+t", "take", N_("Take"), id="desk-take"),
        Binding("ctrl+n", "comment", N_("Comment"), id="desk-comment"),
        Binding("ctrl+r", "resolve", N_("Resolve"), id="desk-resolve"),
        Binding("ctrl+g", "reject", N_("Reject"), id="desk-reject"),
        Binding("ctrl+l", "logout", N_("Log out"), id="desk-logout"),
    ]

    def __init__(self, agent_name: str = "", role: str = "agent") -> None:
        super().__init__()
        self.agent_name, self.role = agent_name, role
        self._debounce: Timer | None = None
        self._queue = backoffice.REQUEST_KINDS[0]
        self._items: list[backoffice.QueueItem] = []
        self._hits: list[backoffice.SearchHit] = []
        self._select_request: int | None = None  # highlight this request once it is loaded

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="desk-header"):
            yield TranslatedLabel(N_("Service desk"), id="desk-title")
            yield Static(plain(self.agent_name), id="desk-agent")
        with TabbedContent(id="desk-tabs"):
            with TabPane(self._(N_("Search")), id="desk-tab-search"):
                yield Input(id="desk-search", max_length=100,
                            placeholder=self._(N_("Number, name, e-mail, postal code or "
                                                  "contract number")))
                yield TranslatedLabel("", id="desk-search-status")
                yield DataTable(id="desk-results", cursor_type="row", zebra_stripes=True)
            with TabPane(self._(N_("Queues")), id="desk-tab-queues"):
                with Horizontal():
                    yield DataTable(id="desk-queues", cursor_type="row")
                    with Vertical(id="desk-queue-right"):
                        yield DataTable(id="desk-queue-items", cursor_type="row",
                                        zebra_stripes=True)
                        yield Static("", id="desk-queue-detail")
            with TabPane(self._(N_("Dashboard")), id="desk-tab-dashboard"), \
                    VerticalScroll(id="desk-dashboard"):
                # focusable (scrolls by keyboard): focus in a hidden pane would switch back
                yield Static("", id="desk-dashboard-queues")
                for key, msgid in SERIES:
                    yield TranslatedLabel(msgid, classes="desk-spark-label")
                    with Horizontal(classes="desk-spark-row"):
                        yield Sparkline([], id=f"desk-spark-{key}", summary_function=max)
                        yield Static("", id=f"desk-spark-{key}-total",
                                     classes="desk-spark-total")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._columns()
        self.query_one("#desk-search", Input).focus()
        self.load_counts()
        self.set_interval(REFRESH, self.load_counts, name="desk-refresh")

    def _columns(self) -> None:
        for table_id, columns in (("#desk-results", RESULT_COLUMNS),
                                  ("#desk-queue-items", ITEM_COLUMNS)):
            table = self.query_one(table_id, DataTable)
            table.clear(columns=True)
            for key, msgid, width in columns:
                table.add_column(label := self._(msgid), key=key, width=max(width, len(label)))
        queues = self.query_one("#desk-queues", DataTable)
        queues.clear(columns=True)
        queues.add_column(self._(N_("Queue")), key="queue", width=34)
        queues.add_column(self._(N_("Open")), key="count", width=5)

    def refresh_texts(self) -> None:
        super().refresh_texts()
        tabs = self.query_one("#desk-tabs", TabbedContent)
        for pane_id, msgid in (("desk-tab-search", N_("Search")),
                               ("desk-tab-queues", N_("Queues")),
                               ("desk-tab-dashboard", N_("Dashboard"))):
            tabs.get_tab(pane_id).label = self._(msgid)
        self.query_one("#desk-search", Input).placeholder = self._(
            N_("Number, name, e-mail, postal code or contract number"))
        self._columns()
        self._show_hits(self._hits)
        self.load_counts()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("take", "comment", "resolve", "reject"):
            # queue actions belong to the queues tab: shown there, hidden elsewhere
            try:
                return self.query_one("#desk-tabs", TabbedContent).active == "desk-tab-queues"
            except NoMatches:
                return False
        return True

    @on(TabbedContent.TabActivated, "#desk-tabs")
    def _tab_changed(self) -> None:
        self.refresh_bindings()
        if self.query_one("#desk-tabs", TabbedContent).active == "desk-tab-queues":
            self.load_items(self._queue)

    def palette_commands(self) -> list[tuple[str, Any, str]]:
        return [
            (N_("Search customers"), lambda: self.action_show_tab("desk-tab-search"),
             N_("Search by number, name, e-mail, postal code or contract number")),
            (N_("Queues"), lambda: self.action_show_tab("desk-tab-queues"),
             N_("Requests waiting for the service desk")),
            (N_("Dashboard"), lambda: self.action_show_tab("desk-tab-dashboard"),
             N_("Queue sizes and activity per day")),
            (N_("Jump to a customer by number"), self.action_jump,
             N_("Open the customer with this number")),
            (N_("Record an objection"), self.action_objection,
             N_("The customer on record objects to a contract link with the code from the "
                "e-mail")),
            (N_("Take the request"), self.action_take, N_("Assign the request to yourself")),
            (N_("Comment on the request"), self.action_comment, N_("An internal note")),
            (N_("Resolve the request"), self.action_resolve, N_("The customer is told by mail")),
            (N_("Reject the request"), self.action_reject, N_("The customer is told by mail")),
            (N_("Log out"), self.action_logout, N_("End the service-desk session")),
            (N_("New recovery codes"), self.action_recovery_codes,  # #15
             N_("Ten new one-time codes for your second factor; the old ones stop working")),
            *([(N_("Reset an agent's second factor"), self.action_reset_2fa,
                N_("For an agent who lost their phone: they set it up again"))]
              if self.role == "supervisor" else []),
        ]

    def action_recovery_codes(self) -> None:
        from screens.backoffice.second_factor import desk_recovery_flow

        desk_recovery_flow(self)

    def action_reset_2fa(self) -> None:
        from screens.backoffice.second_factor import desk_reset_flow

        desk_reset_flow(self)

    # -- tabs -----------------------------------------------------------------------------
    def action_show_tab(self, pane_id: str) -> None:
        self.query_one("#desk-tabs", TabbedContent).active = pane_id
        if pane_id == "desk-tab-search":
            self.query_one("#desk-search", Input).focus()
        elif pane_id == "desk-tab-queues":
            self.query_one("#desk-queues", DataTable).focus()
        else:
            self.query_one("#desk-dashboard", VerticalScroll).focus()
        self.load_counts()

    def action_logout(self) -> None:
        self.app.logout()  # type: ignore[attr-defined]

    def action_jump(self) -> None:
        def chosen(number: str | None) -> None:
            if number:
                self.open_number(number)

        self.app.push_screen(InputDialog(N_("Jump to a customer by number"),
                                         N_("Customer number"), "jump-number"), chosen)

    # -- objection to a contract link -------------------------------------------------------
    def action_objection(self) -> None:
        """ "Widerspruch erfassen": the code, then the new request in the contract-link queue
        and the choice to open the customer."""
        self.app.push_screen(ObjectionDialog(), self._objection_recorded)

    def _objection_recorded(self, result: contracts.ObjectionResult | None) -> None:
        if result is None:
            return
        self._queue, self._select_request = contracts.KIND_BLOCKED, result.reference
        queues = self.query_one("#desk-queues", DataTable)
        queues.move_cursor(row=backoffice.QUEUES.index(contracts.KIND_BLOCKED))
        self.action_show_tab("desk-tab-queues")

        def chosen(choice: str | None) -> None:
            if choice == OPEN_CUSTOMER:
                self.open_customer(result.customer_id, result.contract_number)

        self.app.push_screen(ObjectionDoneDialog(result), chosen)

    # -- search ---------------------------------------------------------------------------
    @on(Input.Changed, "#desk-search")
    def _typed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, lambda: self.run_search(event.value))

    def on_key(self, event: events.Key) -> None:
        """Down in the search field goes to the results (the way a search list works)."""
        if event.key == "down" and self.focused is self.query_one("#desk-search"):
            results = self.query_one("#desk-results", DataTable)
            if results.row_count:
                event.stop()
                results.focus()

    @on(Input.Submitted, "#desk-search")
    def _submitted(self, event: Input.Submitted) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self.run_search(event.value)
        self.query_one("#desk-results", DataTable).focus()

    def run_search(self, query: str) -> None:
        self.desk_load("desk-search", backoffice.search, query,
                       then=lambda hits: self._show_hits(hits, query))

    def _show_hits(self, hits: list[backoffice.SearchHit], query: str | None = None) -> None:
        self._hits = hits
        table = self.query_one("#desk-results", DataTable)
        table.clear()
        for hit in hits:
            kind = self._(N_("Customer") if hit.kind == "customer" else N_("User"))
            table.add_row(
                cell(kind, 8), cell(hit.number, 12), cell(hit.name, 23),
                cell(" ".join(p for p in (hit.postal_code, hit.city) if p), 20),
                cell(hit.email, 22), cell(self._(MATCHED.get(hit.matched, hit.matched)), 12),
                key=f"{hit.kind}:{hit.id}")
        status = self.query_one("#desk-search-status", TranslatedLabel)
        if query is not None and len(query.strip()) < backoffice.MIN_QUERY:
            status.set_message(N_("Type at least two characters."))
        elif not hits and query is not None:
            status.set_message(N_("Nothing found."))
        elif hits:
            status.set_message(N_("{count} found. Enter opens the selected one."),
                               count=len(hits))

    @on(DataTable.RowSelected, "#desk-results")
    def _open_hit(self, event: DataTable.RowSelected) -> None:
        kind, _, ident = str(event.row_key.value).partition(":")
        if kind == "customer":
            self.open_customer(int(ident))
        else:
            self.open_account(int(ident))

    # -- queues ---------------------------------------------------------------------------
    def load_counts(self) -> None:
        self.desk_load("desk-counts", backoffice.dashboard, then=self._show_board)

    def _show_board(self, board: backoffice.Dashboard) -> None:
        table = self.query_one("#desk-queues", DataTable)
        row = table.cursor_row
        table.clear()
        for kind in backoffice.QUEUES:
            table.add_row(cell(queue_label(self, kind), 34), Text(str(board.queues[kind])),
                          key=kind)
        if table.row_count:
            table.move_cursor(row=min(max(row, 0), table.row_count - 1))
        lines = [f"{queue_label(self, kind)}: {board.queues[kind]}" for kind in backoffice.QUEUES]
        self.query_one("#desk-dashboard-queues", Static).update(
            Text(self._(N_("Open requests")) + "\n" + "\n".join(lines)))
        first, last = board.days[0], board.days[-1]
        for key, _msgid in SERIES:
            values = board.series[key]
            self.query_one(f"#desk-spark-{key}", Sparkline).data = [float(v) for v in values]
            summary = self._(N_("today {today}, {days} days {total} ({first} – {last})"),
                             today=values[-1], days=len(values), total=sum(values),
                             first=date_text(self, first).plain, last=date_text(self, last).plain)
            self.query_one(f"#desk-spark-{key}-total", Static).update(Text(summary))
        if self.query_one("#desk-tabs", TabbedContent).active == "desk-tab-queues":
            self.load_items(self._queue)

    @on(DataTable.RowHighlighted, "#desk-queues")
    def _queue_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self._queue:
            self._queue = str(event.row_key.value)
            self.load_items(self._queue)

    @on(DataTable.RowSelected, "#desk-queues")
    def _queue_selected(self, event: DataTable.RowSelected) -> None:
        self._queue = str(event.row_key.value)
        self.load_items(self._queue)
        self.query_one("#desk-queue-items", DataTable).focus()

    def load_items(self, kind: str) -> None:
        self.desk_load("desk-items", backoffice.queue_items, kind,
                       then=lambda items: self._show_items(kind, items))

    def _show_items(self, kind: str, items: list[backoffice.QueueItem]) -> None:
        if kind != self._queue:
            return
        self._items = items
        table = self.query_one("#desk-queue-items", DataTable)
        row = table.cursor_row
        table.clear()
        for item in items:
            table.add_row(
                cell(str(item.id), 5), cell(self._(STATUS.get(item.status, item.status)), 10),
                cell(item.customer_number, 12),
                cell(item.account_name or item.account_email, 18),
                date_text(self, item.created_at), key=str(item.id))
        if items:
            table.move_cursor(row=min(max(row, 0), len(items) - 1))
        wanted = [i for i, item in enumerate(items) if item.id == self._select_request]
        if wanted:
            table.move_cursor(row=wanted[0])
            self._select_request = None
        self._show_detail()

    @on(DataTable.RowHighlighted, "#desk-queue-items")
    def _item_highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#desk-queue-items")
    def _item_selected(self) -> None:
        item = self.current_item()
        if item is not None and item.customer_id is not None:
            self.open_customer(item.customer_id)

    def current_item(self) -> backoffice.QueueItem | None:
        table = self.query_one("#desk-queue-items", DataTable)
        if not self._items or table.cursor_row < 0 or table.cursor_row >= len(self._items):
            return None
        return self._items[table.cursor_row]

    def _show_detail(self) -> None:
        item = self.current_item()
        detail = self.query_one("#desk-queue-detail", Static)
        if item is None:
            detail.update(Text(self._(N_("No open requests in this queue."))))
            return
        text = Text()
        title = self._(N_("Request {number}"), number=item.id)
        text.append(f"{title} · {queue_label(self, item.kind)}\n", style="bold")
        if item.subject:
            text.append_text(plain(self._(item.subject) + "\n"))
        if item.assigned_to:
            text.append_text(plain(self._(N_("Taken by {agent}"), agent=item.assigned_to) + "\n"))
        for key, value in item.details:
            text.append_text(plain(detail_line(self, key, value) + "\n"))
        for note in item.comments:
            text.append_text(plain(f"» {note.author or ''}: {note.body}\n"))
        text.append(self._(N_("Enter: open the customer · ctrl+t take · ctrl+n comment · "
                              "ctrl+r resolve · ctrl+g reject")), style="dim")
        detail.update(text)

    def _item_action(self, run: Any) -> None:
        item = self.current_item()
        if item is None:
            self.app.notify(self._(N_("Please select a request first.")), markup=False)
            return
        run(item)

    def _request_only(self, item: backoffice.QueueItem) -> bool:
        """Organisation requests are approved (resolve) or rejected, not taken or commented."""
        if item.kind == backoffice.STALE_ORG:
            self.app.notify(self._(N_("Organisation requests are approved (resolve) or "
                                      "rejected directly.")), markup=False)
            return False
        return True

    def action_take(self) -> None:
        def run(item: backoffice.QueueItem) -> None:
            if not self._request_only(item):
                return
            self.desk_call(backoffice.take, item.id, done=N_("You took request {number}."),
                           params={"number": item.id}, then=lambda _result: self.load_counts())

        self._item_action(run)

    def action_comment(self) -> None:
        def run(item: backoffice.QueueItem) -> None:
            if not self._request_only(item):
                return

            def save(text: str | None) -> None:
                if text:
                    self.desk_call(backoffice.comment, item.id, text,
                                   done=N_("Comment saved."), then=lambda _result: self.load_counts())

            self.app.push_screen(NoteDialog(N_("Comment on request {number}"), required=True,
                                            params={"number": item.id}), save)

        self._item_action(run)

    def action_resolve(self) -> None:
        self._close("resolved")

    def action_reject(self) -> None:
        self._close("rejected")

    def _close(self, outcome: str) -> None:
        def run(item: backoffice.QueueItem) -> None:
            title = (N_("Resolve request {number}: note for the customer (optional)")
                     if outcome == "resolved" else
                     N_("Reject request {number}: reason for the customer"))

            def save(text: str | None) -> None:
                if text is None:
                    return
                if item.kind == privacy.KIND_PRIVACY:  # #16: a supervisor confirms/rejects
                    self.desk_call(privacy.desk_decide_deletion, item.id, outcome == "resolved",
                                   text, self.app.caller, then=lambda _r: self.load_counts())
                    return
                fn = (backoffice.close_membership if item.kind == backoffice.STALE_ORG
                      else backoffice.close)
                self.desk_call(fn, item.id, outcome, text,
                               done=N_("Done. The customer is told by mail."),
                               then=lambda _result: self.load_counts())

            self.app.push_screen(NoteDialog(title, required=outcome == "rejected",
                                            params={"number": item.id},
                                            submit=N_("Resolve") if outcome == "resolved"
                                            else N_("Reject")), save)

        self._item_action(run)
