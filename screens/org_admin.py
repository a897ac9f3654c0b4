""""Meine Organisation" (guide 003): the admins of a company account manage its people.

Tab "Anfragen" (super admins): the approvals queue ``#org-requests`` — who, e-mail, customer
number, since when — paged with a keyset cursor (``#org-prev-page``, ``#org-next-page``);
``#org-approve`` / ``#org-reject`` open ``DecisionDialog`` with an optional reason. Tab
"Mitglieder": ``#org-members`` with ``#org-add`` (``ContactDialog``: name, e-mail, role),
``#org-role`` (``RoleDialog``) and ``#org-remove`` (``RemoveDialog``). Adding, changing roles
and removing ask for the password again when it is older than 5 minutes. Every record text is
plain ``rich.text.Text``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input, Select, TabbedContent, TabPane

from screens.dialogs import ReauthDialog
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
    plain,
    show_domain_error,
)
from services import organisations, sessions
from services.errors import N_, DomainError, NotFound

#: The organisation style sheet, beside the forms (as on the registration's screens).
FORM_CSS: ClassVar[list[str]] = ["forms.tcss", "organisation.tcss"]
TABS = (("org-tab-requests", N_("Requests")), ("org-tab-members", N_("Members")))
REQUEST_COLUMNS = (("name", N_("Name"), 24), ("email", N_("E-mail address"), 30),
                   ("number", N_("Customer number"), 15), ("since", N_("Received on"), 14))
MEMBER_COLUMNS = (("name", N_("Name"), 24), ("email", N_("E-mail address"), 30),
                  ("role", N_("Role"), 12), ("state", N_("Status"), 28))


def role_options(node: KioskScreen | KioskModal, *, with_super: bool) -> list[tuple[str, str]]:
    roles = organisations.ROLES if with_super else organisations.ROLES[1:]
    return [(node._(organisations.ROLE_LABELS[r]), r) for r in roles]


class OrganisationScreen(KioskScreen):
    HELP_ARTICLE = "organisation"
    CSS_PATH = FORM_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f5", "reload", N_("Reload"), id="reload"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.orgs: list[organisations.Organisation] = []
        self.org: organisations.Organisation | None = None
        self.pages: list[tuple[dt.datetime, int] | None] = [None]
        self.next_after: tuple[dt.datetime, int] | None = None
        self.requests: dict[int, organisations.PendingRequest] = {}
        self.members: dict[int, organisations.Member] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("My organisation"), classes="form-title")
            yield TranslatedLabel("", id="org-heading", classes="form-intro")
            yield Select([], id="org-company", allow_blank=True)
            yield TranslatedLabel("", id="org-notice", classes="form-notice")
            yield FormError()
            with TabbedContent(id="org-tabs"):
                with TabPane(self._(TABS[0][1]), id=TABS[0][0]):
                    yield TranslatedLabel("", id="org-requests-count", classes="org-muted")
                    yield DataTable(id="org-requests", cursor_type="row", zebra_stripes=True,
                                    classes="org-table")
                    with Horizontal(classes="form-buttons", id="org-request-buttons"):
                        yield TranslatedButton(N_("Approve"), id="org-approve",
                                               variant="success")
                        yield TranslatedButton(N_("Reject"), id="org-reject", variant="error")
                        yield TranslatedButton(N_("Previous page"), id="org-prev-page")
                        yield TranslatedButton(N_("Next page"), id="org-next-page")
                with TabPane(self._(TABS[1][1]), id=TABS[1][0]):
                    yield DataTable(id="org-members", cursor_type="row", zebra_stripes=True,
                                    classes="org-table")
                    with Horizontal(classes="form-buttons"):
                        yield TranslatedButton(N_("Add contact"), id="org-add",
                                               variant="primary")
                        yield TranslatedButton(N_("Change role"), id="org-role")
                        yield TranslatedButton(N_("Remove"), id="org-remove", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#org-company").display = False
        self.query_one("#org-tabs").display = False
        self._columns()
        self.run_service(organisations.my_organisations, self.app.backend,
                         self.app.session_token, on_success=self._orgs, on_error=self._failed)

    def _columns(self) -> None:
        for table_id, columns in (("#org-requests", REQUEST_COLUMNS),
                                  ("#org-members", MEMBER_COLUMNS)):
            table = self.query_one(table_id, DataTable)
            table.clear(columns=True)
            for key, msgid, width in columns:
                table.add_column(label := self._(msgid), key=key, width=max(width, len(label)))

    def refresh_texts(self) -> None:
        super().refresh_texts()
        tabs = self.query_one(TabbedContent)
        for pane_id, msgid in TABS:
            tabs.get_tab(pane_id).label = self._(msgid)  # type: ignore[assignment]
        self._columns()
        self._heading()
        self.action_reload()

    # ----------------------------------------------------------------- loading

    def _orgs(self, orgs: list[organisations.Organisation]) -> None:
        self.orgs = orgs
        if not orgs:
            self.query_one("#org-heading", TranslatedLabel).set_message(
                N_("You are not an admin of a company account. Your company's admins can "
                   "make you one."))
            return
        select = self.query_one("#org-company", Select)
        select.set_options([(plain(f"{o.company} ({o.number})"), o.customer_id) for o in orgs])
        select.value = orgs[0].customer_id
        select.display = len(orgs) > 1
        self.query_one("#org-tabs").display = True
        self._choose(orgs[0])

    @on(Select.Changed, "#org-company")
    def _company_changed(self, event: Select.Changed) -> None:
        chosen = next((o for o in self.orgs if o.customer_id == event.value), None)
        if chosen is not None and chosen != self.org:
            self._choose(chosen)

    def _choose(self, org: organisations.Organisation) -> None:
        self.org = org
        self.pages = [None]
        self._heading()
        super_admin = org.role == "super_admin"
        self.query_one("#org-requests").display = super_admin
        self.query_one("#org-request-buttons").display = super_admin
        self.action_reload()
        tabs = self.query_one(TabbedContent)
        tabs.active = TABS[0][0] if super_admin else TABS[1][0]
        # after the tab switch has settled (it would take the focus back to the tab bar)
        self.call_after_refresh(
            self.query_one("#org-requests" if super_admin else "#org-members").focus)

    def _heading(self) -> None:
        if self.org is None:
            return
        self.query_one("#org-heading", TranslatedLabel).set_message(
            N_("{company}, customer number {number}. Your role: {role}"),
            company=self.org.company, number=self.org.number,
            role=self._(organisations.ROLE_LABELS[self.org.role]))

    def action_reload(self) -> None:
        if self.org is None:
            return
        if self.org.role == "super_admin":
            self._load_requests()
        else:
            self.query_one("#org-requests-count", TranslatedLabel).set_message(
                N_("Only the super admins of the company decide on requests."))
        self.run_service(organisations.members, self.app.backend, self.app.session_token,
                         self.org.customer_id, on_success=self._show_members,
                         on_error=self._failed)

    def _load_requests(self) -> None:
        assert self.org is not None
        self.run_service(organisations.pending_requests, self.app.backend,
                         self.app.session_token, self.org.customer_id, after=self.pages[-1],
                         on_success=self._show_requests, on_error=self._failed)

    def _show_requests(self, page: organisations.RequestPage) -> None:
        if not page.items and len(self.pages) > 1:  # the last page emptied meanwhile
            self.pages.pop()
            self._load_requests()
            return
        table = self.query_one("#org-requests", DataTable)
        table.clear()
        self.requests = {item.id: item for item in page.items}
        widths = {key: width for key, _, width in REQUEST_COLUMNS}
        for item in page.items:
            table.add_row(cell(item.name, widths["name"]), cell(item.email, widths["email"]),
                          cell(item.customer_number, widths["number"]),
                          date_text(self, item.created_at), key=str(item.id))
        self.next_after = page.next_after
        first = (len(self.pages) - 1) * organisations.PAGE_SIZE
        label = self.query_one("#org-requests-count", TranslatedLabel)
        if page.total:
            label.set_message(N_("Open requests: {total}, shown: {first} to {last}"),
                              total=page.total, first=first + 1, last=first + len(page.items))
        else:
            label.set_message(N_("There are no open requests."))
        for button_id in ("#org-approve", "#org-reject"):
            self.query_one(button_id).disabled = not page.items
        self.query_one("#org-prev-page").disabled = len(self.pages) == 1
        self.query_one("#org-next-page").disabled = page.next_after is None

    def _show_members(self, members: list[organisations.Member]) -> None:
        table = self.query_one("#org-members", DataTable)
        table.clear()
        self.members = {m.id: m for m in members}
        widths = {key: width for key, _, width in MEMBER_COLUMNS}
        for m in members:
            name = m.name + (self._(" (you)") if m.is_self else "")
            table.add_row(cell(name, widths["name"]), cell(m.email, widths["email"]),
                          cell(self._(organisations.ROLE_LABELS[m.role]), widths["role"]),
                          cell(self._(organisations.STATE_LABELS.get(m.state, m.state)),
                               widths["state"]), key=str(m.id))

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error)

    # ----------------------------------------------------------------- paging

    @on(TranslatedButton.Pressed, "#org-next-page")
    def action_next_page(self) -> None:
        if self.next_after is not None:
            self.pages.append(self.next_after)
            self._load_requests()

    @on(TranslatedButton.Pressed, "#org-prev-page")
    def action_previous_page(self) -> None:
        if len(self.pages) > 1:
            self.pages.pop()
            self._load_requests()

    # ----------------------------------------------------------------- actions

    def _selected(self, table_id: str) -> int | None:
        table = self.query_one(table_id, DataTable)
        if not table.row_count:
            return None
        return int(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def _done(self, outcome: organisations.Result | DomainError | None) -> None:
        if outcome is None:
            return
        clear_errors(self)
        notice = self.query_one("#org-notice", TranslatedLabel)
        if isinstance(outcome, DomainError):
            notice.set_message("")
            self._failed(outcome)
        else:
            notice.set_message(outcome.message, **self._role_params(outcome.params))
        self.action_reload()

    def _role_params(self, params: dict[str, Any]) -> dict[str, Any]:
        role = params.get("role")
        if role in organisations.ROLE_LABELS:
            label = organisations.ROLE_LABELS[role]
            return {**params, "role": self._(label)}
        return params

    def _decide(self, approve: bool) -> None:
        request_id = self._selected("#org-requests")
        if self.org is None or request_id is None:
            return
        self.app.push_screen(DecisionDialog(self.org.customer_id, self.requests[request_id],
                                            approve), self._done)

    @on(TranslatedButton.Pressed, "#org-approve")
    def action_approve(self) -> None:
        self._decide(True)

    @on(TranslatedButton.Pressed, "#org-reject")
    def action_reject(self) -> None:
        self._decide(False)

    @on(TranslatedButton.Pressed, "#org-add")
    def action_add(self) -> None:
        if self.org is not None:
            self.app.push_screen(ContactDialog(self.org), self._done)

    def _member(self) -> organisations.Member | None:
        member_id = self._selected("#org-members")
        return self.members.get(member_id) if member_id is not None else None

    @on(TranslatedButton.Pressed, "#org-role")
    def action_role(self) -> None:
        member = self._member()
        if self.org is not None and member is not None:
            self.app.push_screen(RoleDialog(self.org, member), self._done)

    @on(TranslatedButton.Pressed, "#org-remove")
    def action_remove(self) -> None:
        member = self._member()
        if self.org is not None and member is not None:
            self.app.push_screen(RemoveDialog(self.org, member), self._done)


# --------------------------------------------------------------------------- dialogs


class OrgDialog(KioskModal):
    """A dialog that runs one organisation service and dismisses with its ``Result`` (or with
    the error when the list behind it is out of date), ``None`` on cancel. A password older
    than 5 minutes is asked for again, then the call is repeated."""

    HELP_ARTICLE = "organisation"
    CSS_PATH = FORM_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), id="cancel")]
    FIELD_IDS: ClassVar[dict[str, str]] = {}
    PREFIX = "org-dialog"

    def buttons(self, submit: str, variant: str = "primary") -> ComposeResult:
        yield FormError()
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(submit, id=f"{self.PREFIX}-submit", variant=variant)  # type: ignore[arg-type]
            yield TranslatedButton(N_("Cancel"), id=f"{self.PREFIX}-cancel")

    def call(self, fn: Any, *args: Any) -> None:
        def failed(error: DomainError) -> None:
            if isinstance(error, sessions.ReauthRequired):
                self.app.push_screen(ReauthDialog(), lambda ok: self.call(fn, *args) if ok
                                     else None)
            elif isinstance(error, organisations.AlreadyDecided | NotFound
                            | sessions.SessionExpired):
                self.dismiss(error)
            else:
                show_domain_error(self, error, field_ids=self.FIELD_IDS)

        clear_errors(self)
        self.run_service(fn, *args, on_success=self.dismiss, on_error=failed)

    def on_button_pressed(self, event: TranslatedButton.Pressed) -> None:
        if event.button.id == f"{self.PREFIX}-submit":
            event.stop()
            self.submit()
        elif event.button.id == f"{self.PREFIX}-cancel":
            event.stop()
            self.action_cancel()

    def submit(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)


class DecisionDialog(OrgDialog):
    PREFIX = "org-decision"
    FIELD_IDS: ClassVar[dict[str, str]] = {"reason": "org-reason"}

    def __init__(self, customer_id: int, request: organisations.PendingRequest, approve: bool
                 ) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.request = request
        self.approve = approve

    def compose(self) -> ComposeResult:
        params = {"name": self.request.name or self.request.email, "email": self.request.email}
        with Vertical():
            yield TranslatedLabel(N_("Approve the request of {name} ({email})?") if self.approve
                                  else N_("Reject the request of {name} ({email})?"), params,
                                  classes="form-intro")
            yield Field(N_("Reason (optional, sent to the applicant)"),
                        Input(id="org-reason", max_length=organisations.MAX_REASON))
            yield from self.buttons(N_("Approve") if self.approve else N_("Reject"),
                                    "success" if self.approve else "error")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#org-reason").focus()

    @on(Input.Submitted, "#org-reason")
    def submit(self) -> None:
        self.call(organisations.decide, self.app.backend, self.app.session_token,
                  self.customer_id, self.request.id, self.approve,
                  self.query_one("#org-reason", Input).value, self.app.caller)


class ContactDialog(OrgDialog):
    PREFIX = "org-contact"
    FIELD_IDS: ClassVar[dict[str, str]] = {
        "first_name": "org-contact-first-name", "last_name": "org-contact-last-name",
        "email": "org-contact-email", "role": "org-contact-role"}

    def __init__(self, org: organisations.Organisation) -> None:
        super().__init__()
        self.org = org

    def compose(self) -> ComposeResult:
        with Vertical():
            yield TranslatedLabel(N_("Add a contact"), classes="form-title")
            yield TranslatedLabel(N_("The contact receives an e-mail to accept the terms of use "
                                     "and the privacy statement and to set a password."),
                                  classes="form-intro")
            with Horizontal(classes="form-row"):
                yield Field(N_("First name"), Input(id="org-contact-first-name",
                                                    max_length=120), required=True)
                yield Field(N_("Last name"), Input(id="org-contact-last-name",
                                                   max_length=120), required=True)
            yield Field(N_("E-mail address"), Input(id="org-contact-email", max_length=254),
                        required=True)
            yield Field(N_("Role"), Select(role_options(self, with_super=self.org.role
                                                        == "super_admin"),
                                           id="org-contact-role", allow_blank=False,
                                           value="member"), required=True)
            yield from self.buttons(N_("Add contact"))

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#org-contact-first-name").focus()

    @on(Input.Submitted)
    def _next(self) -> None:
        self.focus_next()

    def submit(self) -> None:
        data = {name: self.query_one(f"#org-contact-{name.replace('_', '-')}", Input).value
                for name in ("first_name", "last_name", "email")}
        data["role"] = str(self.query_one("#org-contact-role", Select).value)
        self.call(organisations.add_contact, self.app.backend, self.app.session_token,
                  self.org.customer_id, data, self.app.caller)


class MemberDialog(OrgDialog):
    """A dialog about one member of the company."""

    def __init__(self, org: organisations.Organisation, member: organisations.Member) -> None:
        super().__init__()
        self.org = org
        self.member = member


class RoleDialog(MemberDialog):
    PREFIX = "org-role"
    FIELD_IDS: ClassVar[dict[str, str]] = {"role": "org-role-select"}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield TranslatedLabel(N_("Change the role of {name}"), {"name": self.member.name},
                                  classes="form-title")
            yield Field(N_("Role"), Select(role_options(self, with_super=True),
                                           id="org-role-select", allow_blank=False,
                                           value=self.member.role), required=True)
            yield from self.buttons(N_("Save"))

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#org-role-select").focus()

    def submit(self) -> None:
        role = str(self.query_one("#org-role-select", Select).value)
        self.call(organisations.change_role, self.app.backend, self.app.session_token,
                  self.org.customer_id, self.member.id, role, self.app.caller)


class RemoveDialog(MemberDialog):
    PREFIX = "org-remove"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield TranslatedLabel(
                N_("Remove {name} ({email}) from the company account? Open sessions of this "
                   "person end at once."), {"name": self.member.name, "email": self.member.email},
                classes="form-intro")
            yield from self.buttons(N_("Remove"), "error")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#org-remove-cancel").focus()

    def submit(self) -> None:
        self.call(organisations.remove_member, self.app.backend, self.app.session_token,
                  self.org.customer_id, self.member.id, self.app.caller)


def organisation_flow() -> OrganisationScreen:
    """Factory for ``KioskApp.FLOWS["organisation"]`` (home ``#nav-organisation``)."""
    return OrganisationScreen()
