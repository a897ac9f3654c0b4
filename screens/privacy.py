"""Data protection in "Meine Einstellungen" (#16): "Meine Daten herunterladen" and
"Benutzerkonto löschen", and the offer to cancel a waiting deletion at login.

* ``privacy_pane()`` is the content of the settings tab "Datenschutz"; ``PrivacySettings`` (mixed
  into ``SettingsScreen``) answers its two buttons ``#settings-export-data`` and
  ``#settings-delete-account``.
* ``ExportDialog``: the password again (``#reauth-password``, ``#reauth-submit``), then
  ``privacy.export_my_data`` — the files in the export directory, in kiosk mode one mail.
* ``DeleteAccountScreen``: says exactly what happens (``privacy.deletion_preview``), refuses
  with a clear message while the account is a company's last super admin, asks for the password
  (``#reauth-password``) and deletes with ``#delete-confirm`` (``#delete-cancel`` goes back).
* ``CancelDeletionDialog``: the login of an account waiting for its deletion offers to cancel
  it (``privacy.cancel_deletion_login``); ``offer_cancel_deletion`` is called by the login screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, Static

from screens.widgets import (
    Field,
    FormError,
    KioskModal,
    KioskScreen,
    PasswordDialog,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    date_text,
    require,
    show_domain_error,
)
from services import privacy, sessions
from services.errors import N_, DomainError

PRIVACY_TAB = ("settings-tab-privacy", N_("Data protection"))
MSG_PANE_INTRO = N_(
    "Here you can download everything we have stored about your account, or delete your "
    "account.")
MSG_EXPORT_INTRO = N_(
    "Download my data: a JSON file (machine-readable) and a PDF summary of everything stored "
    "about your account. Possible once an hour.")
MSG_EXPORT_KIOSK = N_("At this kiosk the files are not saved here: we send them to your "
                      "confirmed e-mail address.")
MSG_DELETE_INTRO = N_("Delete my account: we explain exactly what happens first.")
MSG_EXPORT_PASSWORD = N_("To download your data, please enter your password.")

DELETE_TITLE = N_("Delete user account")
#: What happens, in this order (the deletion screen shows every line).
DELETE_STEPS = (
    N_("Your account is locked at once and every session ends."),
    N_("We send you an e-mail with a link to cancel the deletion. For {days} days you can "
       "cancel it, also by simply logging in again."),
    N_("On {date} the account is erased: your name, addresses, phone numbers, e-mail addresses "
       "and password are deleted. Your e-mail address can then be used for a new account."),
    N_("The links to your customer numbers, contracts and licences are released; your company "
       "memberships end."),
    N_("Business records that the company keeps in its own systems (customer numbers, "
       "contracts, invoices) stay. Entries in the security log are kept without your name."),
)
MSG_YOUR_LINKS = N_("Linked to your account now:")
MSG_NUMBERS = N_("Customer numbers: {numbers}")
MSG_CONTRACTS = N_("Contracts: {contracts}")
MSG_LICENCES = N_("Licences: {count}")
MSG_COMPANIES = N_("Company memberships: {companies}")
MSG_NOTHING_LINKED = N_("No customer numbers, contracts, licences or memberships.")
MSG_DELETE_PASSWORD = N_("To delete your account, please enter your password.")
CANCEL_TITLE = N_("Your account is waiting for its deletion")


def privacy_pane() -> ComposeResult:
    """The "Datenschutz" tab of "Meine Einstellungen"."""
    yield TranslatedLabel(MSG_PANE_INTRO, classes="form-intro")
    yield TranslatedLabel(MSG_EXPORT_INTRO, classes="form-intro")
    yield TranslatedLabel("", id="settings-export-kiosk", classes="form-intro")
    with Horizontal(classes="form-buttons"):
        yield TranslatedButton(N_("Download my data"), id="settings-export-data",
                               variant="primary")
    yield TranslatedLabel(MSG_DELETE_INTRO, classes="form-intro")
    with Horizontal(classes="form-buttons"):
        yield TranslatedButton(N_("Delete user account"), id="settings-delete-account",
                               variant="error")


class PrivacySettings:
    """The two buttons of the "Datenschutz" tab (mixed into ``SettingsScreen``)."""

    def privacy_mounted(self) -> None:
        screen: Any = self
        if getattr(screen.app, "kiosk_mode", False):
            screen.query_one("#settings-export-kiosk", TranslatedLabel).set_message(
                MSG_EXPORT_KIOSK)

    def on_button_pressed(self, event: TranslatedButton.Pressed) -> None:
        # a plain method, not @on: Textual collects @on handlers only from widget classes
        if event.button.id == "settings-export-data":
            self.export_data()
        elif event.button.id == "settings-delete-account":
            self.app.push_screen(DeleteAccountScreen())  # type: ignore[attr-defined]

    def export_data(self) -> None:
        screen: Any = self

        def done(result: privacy.ExportResult | None) -> None:
            if result is not None:
                clear_errors(screen)
                screen.query_one("#settings-notice", TranslatedLabel).set_message(
                    result.message, **result.params)
            screen.query_one("#settings-export-data").focus()

        screen.app.push_screen(ExportDialog(), done)


class ExportDialog(PasswordDialog):
    """The password again, then the export; dismisses the ``ExportResult``."""

    PREFIX = "reauth"
    INTRO = MSG_EXPORT_PASSWORD
    SUBMIT = N_("Download my data")

    def call(self, password: str) -> None:
        self.run_service(privacy.export_my_data, self.app.backend, self.app.session_token,
                         password, self.app.caller,
                         by_mail=bool(getattr(self.app, "kiosk_mode", False)),
                         on_success=self.dismiss, on_error=self._export_failed)

    def _export_failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        self.failed(error)


class DeleteAccountScreen(KioskScreen):
    """"Benutzerkonto löschen": what happens, the password, then the deletion."""

    HELP_ARTICLE = "privacy"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preview: privacy.DeletionPreview | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(DELETE_TITLE, classes="form-title")
            yield TranslatedLabel(N_("What happens when you delete your account:"),
                                  classes="form-intro")
            yield Static("", id="delete-steps", classes="form-intro")
            yield Static("", id="delete-links", classes="form-intro")
            yield TranslatedLabel(MSG_DELETE_PASSWORD, classes="form-intro")
            yield Field(N_("Password"), Input(id="reauth-password", password=True,
                                              max_length=300), required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Delete my account"), id="delete-confirm",
                                       variant="error")
                yield TranslatedButton(N_("Cancel"), id="delete-cancel")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#delete-confirm").disabled = True
        self.query_one("#reauth-password", Input).focus()
        self.run_service(privacy.deletion_preview, self.app.backend, self.app.session_token,
                         on_success=self._show, on_error=self._failed)

    def refresh_texts(self) -> None:
        super().refresh_texts()
        if self.preview is not None:
            self._show(self.preview)

    def _show(self, preview: privacy.DeletionPreview) -> None:
        self.preview = preview
        steps = Text()
        date = date_text(self, preview.erase_on).plain
        days = self.app.backend.settings.deletion_wait_days
        for number, msgid in enumerate(DELETE_STEPS, 1):
            steps.append(f"{number}. " + self._(msgid, days=days, date=date) + "\n")
        self.query_one("#delete-steps", Static).update(steps)
        lines = [self._(MSG_YOUR_LINKS)]
        if preview.customer_numbers:
            lines.append("• " + self._(MSG_NUMBERS, numbers=", ".join(preview.customer_numbers)))
        if preview.contracts:
            lines.append("• " + self._(MSG_CONTRACTS, contracts=", ".join(preview.contracts)))
        if preview.licences:
            lines.append("• " + self._(MSG_LICENCES, count=preview.licences))
        if preview.companies:
            lines.append("• " + self._(MSG_COMPANIES, companies=", ".join(preview.companies)))
        if len(lines) == 1:
            lines.append("• " + self._(MSG_NOTHING_LINKED))
        self.query_one("#delete-links", Static).update(Text("\n".join(lines)))
        blocked = bool(preview.blocked_by)
        self.query_one("#delete-confirm").disabled = blocked
        if blocked:
            self.query_one(FormError).show(self._(privacy.MSG_LAST_SUPER_ADMIN,
                                                  companies=", ".join(preview.blocked_by)))

    def _failed(self, error: DomainError) -> None:
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        field = self.query_one("#reauth-password", Input)
        field.value = ""
        show_domain_error(self, error, field_ids={"password": "reauth-password"})
        field.focus()

    @on(Input.Submitted, "#reauth-password")
    @on(TranslatedButton.Pressed, "#delete-confirm")
    def _confirm(self) -> None:
        clear_errors(self)
        if self.query_one("#delete-confirm").disabled:
            if self.preview is not None and self.preview.blocked_by:
                self._show(self.preview)
            return
        if not require(self, "reauth-password"):
            return
        password = self.query_one("#reauth-password", Input).value
        self.query_one("#delete-confirm").disabled = True
        self.run_service(privacy.request_deletion, self.app.backend, self.app.session_token,
                         password, self.app.caller, on_success=self._deleted,
                         on_error=self._refused)

    def _refused(self, error: DomainError) -> None:
        self.query_one("#delete-confirm").disabled = False
        self._failed(error)

    def _deleted(self, result: privacy.DeletionResult) -> None:
        app = self.app
        message = self._(result.message, **result.params)

        async def wipe_and_tell() -> None:
            await app.wipe()  # type: ignore[attr-defined]
            app.notify(message, timeout=20, markup=False)

        app.run_worker(wipe_and_tell(), exclusive=True, group="wipe")

    @on(TranslatedButton.Pressed, "#delete-cancel")
    def _cancel(self) -> None:
        self.action_back()


class CancelDeletionDialog(KioskModal):
    """Shown after the right password of an account waiting for its deletion."""

    DEFAULT_CSS = """
    CancelDeletionDialog { align: center middle; }
    CancelDeletionDialog > Vertical { width: 70; max-width: 100%; height: auto;
                                      border: thick $warning; background: $surface;
                                      padding: 1 2; }
    """
    HELP_ARTICLE = "privacy"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "keep", N_("Back"), id="back"),
    ]

    def __init__(self, message: str, params: dict[str, object], identifier: str,
                 password: str, then: Callable[[Any], None], *,
                 keep: Callable[[], None] | None = None) -> None:
        """``identifier`` and ``password`` of the login; both empty after a second-factor
        step, whose session then cancels (``keep`` is called when the person keeps it)."""
        super().__init__()
        self.message, self.params = message, params
        self._identifier, self._password, self._then = identifier, password, then
        self._keep = keep

    def compose(self) -> ComposeResult:
        with Vertical():
            yield TranslatedLabel(CANCEL_TITLE, classes="form-title")
            yield TranslatedLabel(self.message, params=self.params, classes="form-intro")
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Cancel the deletion"), id="deletion-cancel-submit",
                                       variant="primary")
                yield TranslatedButton(N_("Keep the deletion"), id="deletion-keep")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#deletion-cancel-submit").focus()

    @on(TranslatedButton.Pressed, "#deletion-cancel-submit")
    def _cancel_deletion(self) -> None:
        clear_errors(self)
        if self._identifier:
            self.run_service(privacy.cancel_deletion_login, self.app.backend, self._identifier,
                             self._password, self.app.caller, on_success=self._done,
                             on_error=lambda error: show_domain_error(self, error))
        else:
            self.run_service(privacy.cancel_deletion_after_code, self.app.backend,
                             self.app.session_token, self.app.caller, on_success=self._done,
                             on_error=lambda error: show_domain_error(self, error))

    def _done(self, result: Any) -> None:
        self._password = ""
        self.dismiss(None)
        self.app.notify(self._(privacy.MSG_DELETION_CANCELLED), markup=False)
        self._then(result)

    @on(TranslatedButton.Pressed, "#deletion-keep")
    def action_keep(self) -> None:
        self._password = ""
        self.dismiss(None)
        if self._keep is not None:
            self._keep()


def offer_cancel_deletion(screen: Any, error: DomainError, identifier: str, password: str,
                          then: Callable[[Any], None]) -> None:
    """The login screen's answer to ``accounts.DeletionPending`` (an account without a second
    factor; with one, the code step answers it: ``screens.totp``)."""
    screen.app.push_screen(CancelDeletionDialog(error.message, dict(error.params), identifier,
                                                password, then))
