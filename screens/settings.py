""""Meine Einstellungen" (guide 000): password, e-mail address, release notes
("Versionsneuigkeiten") and connected profiles ("Profile verbinden"), as tabs.

* Password and e-mail address: ``accounts.change_password`` / ``request_email_change`` /
  ``confirm_email_change`` (the new address is confirmed with a code first).
* Release notes: ``profile.release_notes(language)`` from ``assets/release_notes/``.
* Connected profiles: the customer numbers (profiles of the company's records) connected to
  this login, loaded when the tab is opened; one is disconnected with the password
  (``customer_numbers.unlink_customer_number``, the same dialog as in "Zugeordnete
  Kundennummern").
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input, Label, TabbedContent, TabPane

from screens.dialogs import UnlinkDialog
from screens.labels import CUSTOMER_TYPE_LABELS
from screens.privacy import PRIVACY_TAB, PrivacySettings, privacy_pane
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
    require,
    show_domain_error,
)
from services import accounts, customer_numbers, profile, sessions
from services.errors import N_, DomainError

TABS = (
    ("settings-tab-password", N_("Password")),
    ("settings-tab-email", N_("E-mail address")),
    ("settings-tab-news", N_("Release notes")),
    ("settings-tab-profiles", N_("Connected profiles")),
    ("settings-tab-totp", N_("Second factor")),  # #15, screens/totp.py
    PRIVACY_TAB,  # #16: download my data, delete the account (screens/privacy.py)
)
PROFILE_COLUMNS = (  # (key, msgid, display width)
    ("number", N_("Customer number"), 15),
    ("type", N_("Type"), 16),
    ("name", N_("Name"), 28),
    ("since", N_("Linked since"), 14),
)
FIELD_IDS = {"current_password": "settings-current-password",
             "new_password": "settings-new-password",
             "password": "settings-email-password",
             "email": "settings-new-email",
             "new_email": "settings-new-email",
             "code": "settings-email-code"}


class SettingsScreen(PrivacySettings, KioskScreen):
    """"Meine Einstellungen"; every tab and every control is reachable by keyboard."""

    HELP_ARTICLE = "profile"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "profile.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f8", "disconnect", N_("Disconnect profile"), id="disconnect"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("My settings"), classes="form-title")
            yield TranslatedLabel("", id="settings-notice", classes="form-notice")
            with TabbedContent(id="settings-tabs"):
                with TabPane(self._(TABS[0][1]), id=TABS[0][0]):
                    yield from self._password_tab()
                with TabPane(self._(TABS[1][1]), id=TABS[1][0]):
                    yield from self._email_tab()
                with TabPane(self._(TABS[2][1]), id=TABS[2][0]):
                    yield VerticalScroll(id="settings-news")
                with TabPane(self._(TABS[3][1]), id=TABS[3][0]):
                    yield TranslatedLabel(N_("These customer numbers (profiles) are connected "
                                             "to your login. To disconnect one, choose it "
                                             "and press F8 or the button; we ask for your "
                                             "password."), classes="form-intro")
                    yield DataTable(id="settings-profiles-table", cursor_type="row",
                                    zebra_stripes=True)
                    yield TranslatedLabel("", id="settings-profiles-empty", classes="form-intro")
                    with Horizontal(classes="form-buttons"):
                        yield TranslatedButton(N_("Disconnect profile"),
                                               id="settings-disconnect", variant="error")
                        yield TranslatedButton(N_("Link further customer numbers"),
                                               id="settings-open-numbers")
                with TabPane(self._(TABS[4][1]), id=TABS[4][0]):  # #15: the second factor
                    from screens.totp import TotpSettings

                    yield TotpSettings()
                with TabPane(self._(PRIVACY_TAB[1]), id=PRIVACY_TAB[0]):
                    yield from privacy_pane()
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Back"), id="settings-back")
        yield Footer()

    def _password_tab(self) -> ComposeResult:
        yield TranslatedLabel(N_("Change password"), classes="form-intro")
        yield Field(N_("Current password"),
                    Input(id="settings-current-password", password=True, max_length=300),
                    required=True)
        yield Field(N_("New password"),
                    Input(id="settings-new-password", password=True, max_length=300),
                    required=True,
                    hint=N_("At least 15 characters. A sentence you can remember is best."))
        yield Field(N_("Confirm new password"),
                    Input(id="settings-new-password-confirm", password=True, max_length=300),
                    required=True)
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Change password"), id="settings-password-submit",
                                   variant="primary")

    def _email_tab(self) -> ComposeResult:
        yield TranslatedLabel(N_("Change e-mail address"), classes="form-intro")
        yield Field(N_("New e-mail address"), Input(id="settings-new-email", max_length=254),
                    required=True)
        yield Field(N_("Password"),
                    Input(id="settings-email-password", password=True, max_length=300),
                    required=True)
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Send confirmation code"), id="settings-email-submit",
                                   variant="primary")
        with Vertical(id="settings-email-step", classes="form-box"):
            yield Field(N_("Code from the e-mail"),
                        Input(id="settings-email-code", max_length=40), required=True)
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Confirm new address"),
                                       id="settings-email-confirm", variant="primary")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#settings-email-step").display = False
        self._set_columns()
        self._show_news()
        self.privacy_mounted()
        self.query_one("#settings-current-password", Input).focus()

    def refresh_texts(self) -> None:
        super().refresh_texts()
        tabs = self.query_one(TabbedContent)
        for pane_id, msgid in TABS:
            tabs.get_tab(pane_id).label = self._(msgid)  # type: ignore[assignment]
        self._set_columns()
        self._show_news()
        if tabs.active == TABS[3][0]:
            self.load_profiles()

    # ----------------------------------------------------------------- helpers

    def _notice(self, message: str, **params: object) -> None:
        self.query_one("#settings-notice", TranslatedLabel).set_message(message, **params)

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        show_domain_error(self, error, prefix="settings", field_ids=FIELD_IDS)

    # ----------------------------------------------------------------- password, e-mail

    @on(Input.Submitted, "#settings-new-password-confirm")
    @on(TranslatedButton.Pressed, "#settings-password-submit")
    def _change_password(self) -> None:
        clear_errors(self)
        ids = ("settings-current-password", "settings-new-password",
               "settings-new-password-confirm")
        if not require(self, *ids):
            return
        current, new, confirm = (self.query_one(f"#{i}", Input).value for i in ids)
        if new != confirm:
            self.query_one("#settings-new-password-confirm-error").show(self._(accounts.MSG_CONFIRM))  # type: ignore[attr-defined]
            return

        def done(result: accounts.RequestResult) -> None:
            for widget_id in ids:
                self.query_one(f"#{widget_id}", Input).value = ""
            self._notice(result.message, **result.params)

        self.run_service(accounts.change_password, self.app.backend, self.app.session_token,
                         current, new, on_success=done, on_error=self._failed)

    @on(Input.Submitted, "#settings-email-password")
    @on(TranslatedButton.Pressed, "#settings-email-submit")
    def _change_email(self) -> None:
        clear_errors(self)
        if not require(self, "settings-new-email", "settings-email-password"):
            return
        email = self.query_one("#settings-new-email", Input).value
        password = self.query_one("#settings-email-password", Input).value

        def sent(result: accounts.RequestResult) -> None:
            self.query_one("#settings-email-password", Input).value = ""
            self._notice(result.message, **result.params)
            self.query_one("#settings-email-step").display = True
            self.query_one("#settings-email-code", Input).focus()

        self.run_service(accounts.request_email_change, self.app.backend,
                         self.app.session_token, password, email,
                         on_success=sent, on_error=self._failed)

    @on(Input.Submitted, "#settings-email-code")
    @on(TranslatedButton.Pressed, "#settings-email-confirm")
    def _confirm_email(self) -> None:
        clear_errors(self)
        if not require(self, "settings-email-code"):
            return
        code = self.query_one("#settings-email-code", Input).value

        def confirmed(result: accounts.RequestResult) -> None:
            self.query_one("#settings-email-step").display = False
            self.query_one("#settings-email-code", Input).value = ""
            self.query_one("#settings-new-email", Input).value = ""
            self._notice(result.message, **result.params)

        self.run_service(accounts.confirm_email_change, self.app.backend,
                         self.app.session_token, code, on_success=confirmed,
                         on_error=self._failed)

    # ----------------------------------------------------------------- release notes

    def _show_news(self) -> None:
        box = self.query_one("#settings-news", VerticalScroll)
        box.remove_children()
        widgets: list[Label] = []
        for note in profile.release_notes(language_of(self)):
            title = Text(self._("Version {version}", version=note.version) + " – ")
            title.append_text(date_text(self, note.date))
            widgets.append(Label(title, classes="news-version", markup=False))
            widgets.extend(Label(Text("• " + change), classes="news-change", markup=False)
                           for change in note.changes)
        box.mount_all(widgets)

    # ----------------------------------------------------------------- connected profiles

    def _set_columns(self) -> None:
        table = self.query_one("#settings-profiles-table", DataTable)
        table.clear(columns=True)
        for key, msgid, width in PROFILE_COLUMNS:
            table.add_column(label := self._(msgid), key=key, width=max(width, len(label)))

    @on(TabbedContent.TabActivated, "#settings-tabs")
    def _tab_opened(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == TABS[3][0]:
            self.load_profiles()

    def load_profiles(self) -> None:
        self.run_service(customer_numbers.linked_numbers, self.app.backend,
                         self.app.session_token, on_success=self._show_profiles,
                         on_error=self._failed)

    def _show_profiles(self, numbers: list[customer_numbers.LinkedNumber]) -> None:
        table = self.query_one("#settings-profiles-table", DataTable)
        table.clear()
        widths = {key: width for key, _, width in PROFILE_COLUMNS}
        for item in numbers:
            label = CUSTOMER_TYPE_LABELS.get(item.type)
            table.add_row(cell(item.number, widths["number"]),
                          cell(self._(label) if label else item.type, widths["type"]),
                          cell(item.name, widths["name"]), date_text(self, item.linked_at),
                          key=item.number)
        self.query_one("#settings-profiles-empty", TranslatedLabel).set_message(
            "" if numbers else N_("No profile is connected to your login yet."))

    @on(TranslatedButton.Pressed, "#settings-disconnect")
    def action_disconnect(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active != TABS[3][0]:
            tabs.active = TABS[3][0]
            return
        table = self.query_one("#settings-profiles-table", DataTable)
        if not table.row_count:
            return
        number = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

        def done(result: str | None) -> None:
            if result:
                clear_errors(self)
                self._notice(customer_numbers.MSG_UNLINKED, number=result)
                self.load_profiles()
            table.focus()

        self.app.push_screen(UnlinkDialog(number), done)

    @on(TranslatedButton.Pressed, "#settings-open-numbers")
    def _open_numbers(self) -> None:
        self.app.open_flow("customer-numbers")

    @on(TranslatedButton.Pressed, "#settings-back")
    def _back(self) -> None:
        self.action_back()


def settings_flow() -> SettingsScreen:
    """Factory for ``KioskApp.FLOWS["settings"]``."""
    return SettingsScreen()
