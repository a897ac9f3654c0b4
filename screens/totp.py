"""The second factor (#15): enrolment, the recovery codes, the login's code step and the
"Zweiter Faktor" block of "Meine Einstellungen" (``services.second_factor``).

* ``TotpEnrolScreen``: the secret as a QR code (segno, half blocks as on the products'
  "Zur Nutzung") and as grouped text ``#totp-enrol-secret``; the current code
  ``#totp-enrol-code`` + ``#totp-enrol-submit`` ends it. The secret is injectable
  (``secret=``) so that snapshots show a fixed one.
* ``RecoveryCodesScreen``: the ten codes ``#totp-recovery-codes`` shown once, "save as PDF"
  into the export directory.
* ``TotpCodeScreen``: after the password, ``#totp-code`` + ``#totp-submit``;
  ``#totp-use-recovery`` switches to a recovery code. It is an ordinary screen: the idle wipe
  ends its pending session and removes it with every other screen.
* ``TotpSettings`` (``#settings-totp``): on/off, new recovery codes, the recommendation for
  organisation super admins and admins.

Every step calls ``then(result)`` with the service's result; the caller decides where to go.
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

from screens.dialogs import with_recent_auth
from screens.privacy import CancelDeletionDialog
from screens.qr import qr_text
from screens.widgets import (
    Field,
    FormError,
    KioskModal,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    require,
    show_domain_error,
)
from services import second_factor, sessions
from services.errors import N_, DomainError

MSG_ENROL_INTRO_AGENT = N_(
    "Service-desk accounts need a second factor. Scan the QR code with an authenticator app "
    "(for example FreeOTP, Aegis, Google or Microsoft Authenticator) or type the key into it, "
    "then enter the 6-digit code the app shows.")
MSG_ENROL_INTRO = N_(
    "Scan the QR code with an authenticator app or type the key into it, then enter the "
    "6-digit code the app shows. From then on, logging in asks for the code after the "
    "password.")
MSG_RECOVERY_INTRO = N_(
    "Your recovery codes. Each works once instead of a code from the app, for example when "
    "your phone is lost. Write them down or save them as a PDF now: they are shown only this "
    "once.")
MSG_CODE_INTRO = N_("Enter the 6-digit code from your authenticator app.")
MSG_RECOVERY_MODE = N_("Enter one of your recovery codes.")
MSG_RECOMMENDED = N_("You administer an organisation account: we recommend turning on the "
                     "second factor.")
MSG_STATUS_ON = N_("The second factor is on. Recovery codes left: {left}.")
MSG_STATUS_OFF = N_("The second factor is off. With it, logging in also asks for a code "
                    "from an authenticator app on your phone.")


def notify_error(screen: Any) -> Callable[[DomainError], None]:
    """An ``on_error`` for flows without a form: the message as a notification (an ended
    session wipes the screens instead)."""

    def failed(error: DomainError) -> None:
        if not _expired(screen, error):
            screen.app.notify(screen._(error.message, **error.params), severity="error",
                              markup=False)

    return failed


def _expired(screen: Any, error: DomainError) -> bool:
    if isinstance(error, sessions.SessionExpired):
        screen.app.session_expired(error)
        return True
    return False


class TotpEnrolScreen(KioskScreen):
    """Set up the authenticator app; ``then(EnrolmentDone)`` after the recovery codes."""

    HELP_ARTICLE = "second-factor"
    CSS_PATH = "forms.tcss"
    DEFAULT_CSS = """
    TotpEnrolScreen #totp-enrol-layout { height: auto; }
    TotpEnrolScreen #totp-enrol-qr { width: auto; height: auto; margin-right: 2; }
    TotpEnrolScreen #totp-enrol-text { width: 1fr; height: auto; }
    TotpEnrolScreen #totp-enrol-secret { text-style: bold; margin: 1 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), id="cancel"),
    ]

    def __init__(self, then: Callable[[second_factor.EnrolmentDone], None],
                 cancel: Callable[[], None], *, mandatory: bool = False,
                 secret: str | None = None) -> None:
        super().__init__()
        self.then = then
        self.cancel = cancel
        self.mandatory = mandatory
        self.secret = secret

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Set up the second factor"), classes="form-title")
            yield TranslatedLabel(MSG_ENROL_INTRO_AGENT if self.mandatory else MSG_ENROL_INTRO,
                                  classes="form-intro")
            with Horizontal(id="totp-enrol-layout"):
                yield Static("", id="totp-enrol-qr", markup=False)
                with Vertical(id="totp-enrol-text"):
                    yield TranslatedLabel(N_("Key for typing in:"))
                    yield Static("", id="totp-enrol-secret", markup=False)
                    yield Static("", id="totp-enrol-account", markup=False)
                    yield Field(N_("Code from the app"),
                                Input(id="totp-enrol-code", max_length=12), required=True)
                    yield FormError()
                    with Horizontal(classes="form-buttons"):
                        yield TranslatedButton(N_("Confirm"), id="totp-enrol-submit",
                                               variant="primary")
                        yield TranslatedButton(N_("Cancel"), id="totp-enrol-cancel")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#totp-enrol-code", Input).focus()
        self.run_service(second_factor.begin_enrolment, self.app.backend,
                         self.app.session_token, secret=self.secret, on_success=self._show,
                         on_error=self._failed)

    def _show(self, enrolment: second_factor.Enrolment) -> None:
        self.query_one("#totp-enrol-qr", Static).update(
            Text(qr_text(enrolment.uri), style="#000000 on #ffffff", no_wrap=True))
        self.query_one("#totp-enrol-secret", Static).update(Text(enrolment.grouped))
        self.query_one("#totp-enrol-account", Static).update(Text(
            f"{second_factor.ISSUER}: {enrolment.account_name}"))

    def _failed(self, error: DomainError) -> None:
        if _expired(self, error):
            return
        self.query_one("#totp-enrol-code", Input).value = ""
        show_domain_error(self, error, field_ids={"code": "totp-enrol-code"})
        self.query_one("#totp-enrol-code", Input).focus()

    @on(Input.Submitted, "#totp-enrol-code")
    @on(TranslatedButton.Pressed, "#totp-enrol-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        if not require(self, "totp-enrol-code"):
            return
        code = self.query_one("#totp-enrol-code", Input).value
        self.run_service(second_factor.confirm_enrolment, self.app.backend,
                         self.app.session_token, code, self.app.caller,
                         on_success=self._enrolled, on_error=self._failed)

    def _enrolled(self, done: second_factor.EnrolmentDone) -> None:
        self.app.switch_screen(RecoveryCodesScreen(done.recovery_codes,
                                                   lambda: self.then(done)))

    @on(TranslatedButton.Pressed, "#totp-enrol-cancel")
    def action_cancel(self) -> None:
        self.cancel()


class RecoveryCodesScreen(KioskScreen):
    """The ten recovery codes, once; "Weiter" calls ``then()``."""

    HELP_ARTICLE = "second-factor"
    CSS_PATH = "forms.tcss"
    DEFAULT_CSS = """
    RecoveryCodesScreen #totp-recovery-codes { text-style: bold; margin: 1 2; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "save_pdf", N_("Save as PDF"), id="save_pdf"),
    ]

    def __init__(self, codes: list[str], then: Callable[[], None]) -> None:
        super().__init__()
        self.codes = codes
        self.then = then

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Recovery codes"), classes="form-title")
            yield TranslatedLabel(MSG_RECOVERY_INTRO, classes="form-intro")
            lines = [f"{n:2d}.  {code}" for n, code in enumerate(self.codes, 1)]
            yield Static(Text("\n".join(lines)), id="totp-recovery-codes", markup=False)
            yield TranslatedLabel("", id="totp-recovery-notice", classes="form-notice")
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Continue"), id="totp-recovery-done",
                                       variant="primary")
                yield TranslatedButton(N_("Save as PDF"), id="totp-recovery-pdf")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#totp-recovery-done").focus()

    @on(TranslatedButton.Pressed, "#totp-recovery-pdf")
    def action_save_pdf(self) -> None:
        def written(result: second_factor.LetterResult) -> None:
            self.query_one("#totp-recovery-notice", TranslatedLabel).set_message(
                result.message, **result.params)

        def failed(error: DomainError) -> None:
            if not _expired(self, error):
                show_domain_error(self, error)

        self.run_service(second_factor.write_recovery_letter, self.app.backend,
                         self.app.session_token, self.codes, self.app.caller,
                         on_success=written, on_error=failed)

    @on(TranslatedButton.Pressed, "#totp-recovery-done")
    def _done(self) -> None:
        self.then()

    def wipe_inputs(self) -> None:
        super().wipe_inputs()
        self.codes = []
        self.query_one("#totp-recovery-codes", Static).update("")


class TotpCodeScreen(KioskScreen):
    """The login's second step; ``then(LoginDone)`` when the code was right."""

    HELP_ARTICLE = "lost-phone"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), id="cancel"),
    ]

    def __init__(self, then: Callable[[second_factor.LoginDone], None],
                 cancel: Callable[[], None]) -> None:
        super().__init__()
        self.then = then
        self.cancel = cancel
        self.recovery = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Second factor"), classes="form-title")
            yield TranslatedLabel(MSG_CODE_INTRO, id="totp-code-intro", classes="form-intro")
            yield Field(N_("Code"), Input(id="totp-code", max_length=16), required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Log in"), id="totp-submit", variant="primary")
                yield TranslatedButton(N_("Use a recovery code"), id="totp-use-recovery")
                yield TranslatedButton(N_("Cancel"), id="totp-cancel")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#totp-code", Input).focus()

    @on(TranslatedButton.Pressed, "#totp-use-recovery")
    def _toggle(self) -> None:
        self.recovery = not self.recovery
        clear_errors(self)
        self.query_one("#totp-code-intro", TranslatedLabel).set_message(
            MSG_RECOVERY_MODE if self.recovery else MSG_CODE_INTRO)
        self.query_one("#totp-use-recovery", TranslatedButton).msgid = (
            N_("Use the app's code") if self.recovery else N_("Use a recovery code"))
        self.query_one("#totp-use-recovery", TranslatedButton).refresh_texts()
        code = self.query_one("#totp-code", Input)
        code.value = ""
        code.focus()

    @on(Input.Submitted, "#totp-code")
    @on(TranslatedButton.Pressed, "#totp-submit")
    def action_submit(self) -> None:
        clear_errors(self)
        if not require(self, "totp-code"):
            return
        code = self.query_one("#totp-code", Input).value
        self.query_one(".form-box").loading = True
        self.run_service(second_factor.complete_login, self.app.backend,
                         self.app.session_token, code, self.app.caller,
                         recovery=self.recovery, on_success=self._done, on_error=self._failed)

    def _done(self, result: second_factor.LoginDone) -> None:
        if result.message:
            self.app.notify(self._(result.message, **result.params), markup=False,
                            severity="warning" if (result.recovery_left or 0) <= 3
                            else "information", timeout=10)
        self.then(result)

    def _failed(self, error: DomainError) -> None:
        self.query_one(".form-box").loading = False
        self.query_one("#totp-code", Input).value = ""
        if isinstance(error, sessions.SessionExpired):  # too slow: the password again
            self.notify(self._(sessions.MSG_EXPIRED), severity="warning", markup=False)
            self.cancel()
            return
        if isinstance(error, sessions.DeletionPending):  # #16: the code was right
            self.app.push_screen(CancelDeletionDialog(
                error.message, dict(error.params), "", "", self.then,
                keep=self.action_cancel))
            return
        show_domain_error(self, error, field_ids={"code": "totp-code"})
        self.query_one("#totp-code", Input).focus()

    @on(TranslatedButton.Pressed, "#totp-cancel")
    def action_cancel(self) -> None:
        self.app.end_session()
        self.cancel()


def login_flow(screen: KioskScreen, step: str, done: Callable[[str, str], None],
               back: Callable[[], None]) -> None:
    """After a password step that answered ``second_factor`` ``step``: the code screen or the
    enrolment (then the recovery codes); ``done(display_name, kind)`` when the session is
    full, ``back()`` when the person cancels (the pending session is ended)."""
    if step == second_factor.ENROL:
        def cancel() -> None:
            screen.app.end_session()
            back()

        screen.app.switch_screen(TotpEnrolScreen(
            lambda result: done(result.display_name, result.kind), cancel, mandatory=True))
    else:
        screen.app.switch_screen(TotpCodeScreen(
            lambda result: done(result.display_name, result.kind), back))


class DisableDialog(KioskModal):
    """Turn the second factor off: the password and a current code."""

    DEFAULT_CSS = """
    DisableDialog { align: center middle; }
    DisableDialog > Vertical { width: 64; max-width: 100%; height: auto;
                               border: thick $primary; background: $surface; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), id="cancel"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield TranslatedLabel(N_("Turn off the second factor"), classes="form-title")
            yield Field(N_("Password"), Input(id="totp-disable-password", password=True,
                                              max_length=300), required=True)
            yield Field(N_("Code from the app"), Input(id="totp-disable-code", max_length=12),
                        required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Turn off"), id="totp-disable-submit",
                                       variant="error")
                yield TranslatedButton(N_("Cancel"), id="totp-disable-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#totp-disable-password", Input).focus()

    @on(Input.Submitted, "#totp-disable-code")
    @on(TranslatedButton.Pressed, "#totp-disable-submit")
    def _submit(self) -> None:
        clear_errors(self)
        if not require(self, "totp-disable-password", "totp-disable-code"):
            return
        password = self.query_one("#totp-disable-password", Input).value
        code = self.query_one("#totp-disable-code", Input).value
        self.run_service(second_factor.disable, self.app.backend, self.app.session_token,
                         password, code, self.app.caller, on_success=self.dismiss,
                         on_error=self._failed)

    def _failed(self, error: DomainError) -> None:
        if _expired(self, error):
            return
        for widget_id in ("totp-disable-password", "totp-disable-code"):
            self.query_one(f"#{widget_id}", Input).value = ""
        show_domain_error(self, error, field_ids={"password": "totp-disable-password",
                                                  "code": "totp-disable-code"})
        self.query_one("#totp-disable-password", Input).focus()

    @on(Input.Submitted, "#totp-disable-password")
    def _next(self) -> None:
        self.query_one("#totp-disable-code", Input).focus()

    @on(TranslatedButton.Pressed, "#totp-disable-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class TotpSettings(Vertical):
    """The "Second factor" block of "Meine Einstellungen" (``#settings-totp``)."""

    DEFAULT_CSS = "TotpSettings { height: auto; }"

    def __init__(self) -> None:
        super().__init__(id="settings-totp")

    def compose(self) -> ComposeResult:
        yield TranslatedLabel("", id="settings-totp-recommended", classes="form-notice")
        yield TranslatedLabel("", id="settings-totp-status", classes="form-intro")
        with Horizontal(classes="form-buttons"):
            yield TranslatedButton(N_("Turn on"), id="settings-totp-enable", variant="primary")
            yield TranslatedButton(N_("New recovery codes"), id="settings-totp-recovery")
            yield TranslatedButton(N_("Turn off"), id="settings-totp-disable", variant="error")

    def on_show(self) -> None:
        """Loaded when its tab is opened (not with the settings screen)."""
        self.load()

    @property
    def kiosk_screen(self) -> KioskScreen:
        return self.screen  # type: ignore[return-value]

    def load(self) -> None:
        self.kiosk_screen.run_service(second_factor.status, self.app.backend,
                                      self.app.session_token, on_success=self._show,
                                      on_error=self._failed)

    def _show(self, status: second_factor.FactorStatus) -> None:
        self.query_one("#settings-totp-recommended", TranslatedLabel).set_message(
            MSG_RECOMMENDED if status.recommended else "")
        self.query_one("#settings-totp-status", TranslatedLabel).set_message(
            MSG_STATUS_ON if status.enabled else MSG_STATUS_OFF, left=status.recovery_left)
        self.query_one("#settings-totp-enable").display = not status.enabled
        self.query_one("#settings-totp-recovery").display = status.enabled
        self.query_one("#settings-totp-disable").display = (status.enabled
                                                            and not status.mandatory)

    def _failed(self, error: DomainError) -> None:
        if not _expired(self, error):
            show_domain_error(self.kiosk_screen, error)

    def _with_password(self, then: Callable[[], None]) -> None:
        with_recent_auth(self.kiosk_screen, then)

    @on(TranslatedButton.Pressed, "#settings-totp-enable")
    def _enable(self) -> None:
        def back() -> None:
            self.app.pop_screen()
            self.load()

        self._with_password(lambda: self.app.push_screen(
            TotpEnrolScreen(lambda _done: back(), self.app.pop_screen)))

    @on(TranslatedButton.Pressed, "#settings-totp-recovery")
    def _renew(self) -> None:
        def show(result: second_factor.RecoveryCodes) -> None:
            def back() -> None:
                self.app.pop_screen()
                self.load()

            self.app.push_screen(RecoveryCodesScreen(result.recovery_codes, back))

        self._with_password(lambda: self.kiosk_screen.run_service(
            second_factor.new_recovery_codes, self.app.backend, self.app.session_token,
            self.app.caller, on_success=show, on_error=self._failed))

    @on(TranslatedButton.Pressed, "#settings-totp-disable")
    def _disable(self) -> None:
        def closed(status: second_factor.FactorStatus | None) -> None:
            if status is not None:
                self.app.notify(self.kiosk_screen._(second_factor.MSG_DISABLED),
                                markup=False)
                self._show(status)

        self.app.push_screen(DisableDialog(), closed)


__all__ = ["DisableDialog", "RecoveryCodesScreen", "TotpCodeScreen", "TotpEnrolScreen",
           "TotpSettings", "login_flow", "notify_error"]
