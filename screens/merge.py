""""Kundennummern zusammenführen" (guide 004): merge two customer numbers.

Step 1: the password again when it is older than 5 minutes (``#reauth-password``), the number
that is kept (``#merge-keep``, preselected when there is one; in a session opened with a
customer number it is that number) and, under "Kundennummern übernehmen", the other number
(``#merge-other-number``) with its customer password or Freischaltcode (``#merge-credential``),
then ``#merge-next``. Step 2: the comparison ``#merge-diff``; differing rows carry a marker
(``≠``; ``✗`` where the difference blocks the merge) and a colour. Blocked (company or name
differ): the explanation of the guide, the contract-transfer form to save or mail as a PDF,
the reference of the service-desk request, no merge button. Otherwise "Daten übernehmen"
(``#merge-take-over``) and "Auftrag abschicken" (``#merge-submit``). Step 3: the confirmation,
with the next merge offered (and, after a customer-number login, a portal account).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Input, Select

from screens.dialogs import with_recent_auth
from screens.tables import cell
from screens.widgets import (
    MSG_EMPTY,
    Field,
    FieldError,
    FormError,
    KioskScreen,
    PasswordDialog,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    plain,
    require,
    show_domain_error,
)
from services import merge, sessions
from services.errors import N_, DomainError

TITLE = N_("Merge customer numbers")
INTRO = N_("If you have several customer numbers, you can combine them under one customer "
           "number here. You can merge only two customer numbers at a time; afterwards you "
           "can merge further ones.")
KEEP_LABEL = N_("Customer number you keep")
KEEP_NOTE = N_("The customer number {number} is kept: it survives the merge, and the other "
               "customer number is merged into it.")
KEEP_CHOOSE = N_("Choose the customer number you keep.")
KEEP_NONE = N_("No customer number is linked to your account yet. Please link your customer "
               "numbers first (Linked customer numbers).")
TAKE_OVER_TITLE = N_("Take over customer numbers")
TAKE_OVER_INTRO = N_("Enter the customer number you want to merge into the kept one and, as "
                     "proof that it is yours, its customer password or its Freischaltcode.")
OTHER_LABEL = N_("Other customer number")
CREDENTIAL_LABEL = N_("Customer password or Freischaltcode of this customer number")
DIFF_TITLE = N_("Comparison of your customer numbers")
LEGEND = N_("≠ marks rows whose values differ (highlighted); ✗ marks differences that block "
            "the merge.")
TAKE_OVER_HELP = N_("\"Take over data\" keeps the data of your customer number {kept} for "
                    "the merged customer number. \"Submit order\" also completes empty fields "
                    "of {kept} with the values of {other}.")
SAME_DATA = N_("Both data records are identical.")
BLOCKED_REFERENCE = N_("Your case was passed to the service desk (reference {reference}). "
                       "You can save the contract transfer form or have it sent to you by "
                       "e-mail.")
DONE = N_("Thank you. Your order {reference} was carried out: the customer number {merged} "
          "was merged into {kept}. Taken over: contracts: {contracts}, licences: {licences}.")
DONE_ALREADY = N_("This merge was already carried out (order {reference}): the customer "
                  "number {merged} belongs to {kept}.")
DONE_MAILED = N_("You will also receive the confirmation by e-mail.")
DONE_NEXT = N_("You can now merge further customer numbers.")
ACCOUNT_OFFER = N_("Would you like to create a portal account? With it you can manage your "
                   "customer numbers, contracts and products.")
FORM_SAVED = N_("The form was saved as {path}.")
FORM_MAILED = N_("The form was sent to {email}.")
MARK_DIFFERS = "≠"
MARK_BLOCKS = "✗"
DIFF_STYLE = "bold yellow"
BLOCK_STYLE = "bold red"
COLUMNS = (("mark", "", 3), ("field", N_("Field"), 22), ("kept", N_("Kept: {number}"), 36),
           ("other", N_("Merged: {number}"), 36))


class MergeReauthDialog(PasswordDialog):
    """The password again (the account's, or the customer password after a number login)."""

    PREFIX = "reauth"
    INTRO = N_("Please enter your password again to continue.")
    CANCELLED = False

    def call(self, password: str) -> None:
        self.run_service(merge.reauthenticate, self.app.backend, self.app.session_token,
                         password, on_success=lambda _none: self.dismiss(True),
                         on_error=self.failed)


def with_recent_auth_any(screen: KioskScreen, then: Callable[[], Any],
                         cancelled: Callable[[], Any] | None = None) -> None:
    """``with_recent_auth`` for both session kinds (account or customer number)."""
    with_recent_auth(screen, then, check=merge.require_recent_auth, dialog=MergeReauthDialog,
                     cancelled=cancelled)


class MergeScreen(KioskScreen):
    HELP_ARTICLE = "merge"
    CSS_PATH: ClassVar[list[str]] = ["forms.tcss", "merge.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f10", "app.logout", N_("Log out"), id="logout"),
    ]

    def __init__(self, *, customer_login: bool = False) -> None:
        super().__init__()
        self.customer_login = customer_login
        self.choices: merge.MergeOptions | None = None
        self.comparison: merge.Comparison | None = None
        self.result: merge.MergeResult | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(TITLE, classes="form-title")
            with Vertical(id="merge-step-numbers"):
                yield TranslatedLabel(INTRO, classes="form-intro")
                yield Field(KEEP_LABEL, Select([], id="merge-keep", prompt="—"), required=True)
                yield TranslatedLabel("", id="merge-keep-note", classes="merge-keep-note")
                yield TranslatedLabel(TAKE_OVER_TITLE, classes="form-section")
                yield TranslatedLabel(TAKE_OVER_INTRO, classes="form-intro")
                yield Field(OTHER_LABEL, Input(id="merge-other-number", max_length=32),
                            required=True)
                yield Field(CREDENTIAL_LABEL, Input(id="merge-credential", password=True,
                                                    max_length=300), required=True)
                with Horizontal(classes="form-buttons"):
                    yield TranslatedButton(N_("Next"), id="merge-next", variant="primary")
                    yield TranslatedButton(N_("Back"), id="merge-back")
            with Vertical(id="merge-step-diff"):
                yield TranslatedLabel(DIFF_TITLE, classes="form-section")
                yield DataTable(id="merge-diff", cursor_type="row", zebra_stripes=False)
                yield TranslatedLabel(LEGEND, id="merge-legend", classes="form-intro")
                with Vertical(id="merge-blocked"):
                    yield TranslatedLabel(merge.MSG_BLOCKED, classes="merge-blocked-text")
                    yield TranslatedLabel("", id="merge-blocked-reference",
                                          classes="form-intro")
                    with Horizontal(classes="form-buttons"):
                        yield TranslatedButton(N_("Save form (PDF)"), id="merge-form-save",
                                               variant="primary")
                        yield TranslatedButton(N_("Send form by e-mail"), id="merge-form-mail")
                        yield TranslatedButton(N_("Back"), id="merge-blocked-back")
                with Vertical(id="merge-actions"):
                    yield TranslatedLabel("", id="merge-actions-help", classes="form-intro")
                    with Horizontal(classes="form-buttons"):
                        yield TranslatedButton(N_("Take over data"), id="merge-take-over",
                                               variant="primary")
                        yield TranslatedButton(N_("Submit order"), id="merge-submit",
                                               variant="success")
                        yield TranslatedButton(N_("Back"), id="merge-diff-back")
            with Vertical(id="merge-step-done"):
                yield TranslatedLabel("", id="merge-confirmation", classes="form-notice")
                yield TranslatedLabel("", id="merge-confirmation-mail", classes="form-intro")
                yield TranslatedLabel(DONE_NEXT, classes="form-intro")
                yield TranslatedLabel(ACCOUNT_OFFER, id="merge-account-offer",
                                      classes="form-intro")
                with Horizontal(classes="form-buttons"):
                    yield TranslatedButton(N_("Merge further customer numbers"),
                                           id="merge-again", variant="primary")
                    yield TranslatedButton(N_("Create a portal account"), id="merge-register")
                    yield TranslatedButton(N_("Done"), id="merge-finish")
            yield FormError()
            yield TranslatedLabel("", id="merge-notice", classes="form-notice")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._step("numbers")
        self._set_columns()
        with_recent_auth_any(self, self._load, cancelled=self.action_back)

    # ----------------------------------------------------------------- helpers

    def _step(self, name: str) -> None:
        for step in ("numbers", "diff", "done"):
            self.query_one(f"#merge-step-{step}").display = step == name

    @property
    def customer_session(self) -> bool:
        return self.customer_login or bool(self.choices and self.choices.customer_session)

    def _failed(self, error: DomainError) -> None:
        self.query_one(".form-box").loading = False
        if isinstance(error, sessions.SessionExpired):
            self.app.session_expired(error)
            return
        if isinstance(error, sessions.ReauthRequired):
            with_recent_auth_any(self, lambda: None)
            return
        self.query_one("#merge-credential", Input).value = ""
        show_domain_error(self, error, prefix="merge",
                          field_ids={"keep": "merge-keep", "other_number": "merge-other-number",
                                     "credential": "merge-credential"})

    def _set_columns(self) -> None:
        table = self.query_one("#merge-diff", DataTable)
        table.clear(columns=True)
        found = self.comparison
        for key, msgid, width in COLUMNS:
            number = ""
            if found is not None:
                number = found.kept_number if key == "kept" else found.other_number
            table.add_column(self._(msgid, number=number) if msgid else "", key=key, width=width)
        if found is not None:
            self._fill_table(found)

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self._set_columns()
        self._keep_note()

    # ----------------------------------------------------------------- step 1

    def _load(self) -> None:
        self.run_service(merge.options, self.app.backend, self.app.session_token,
                         on_success=self._options, on_error=self._failed)

    def _options(self, choices: merge.MergeOptions) -> None:
        self.choices = choices
        keep = self.query_one("#merge-keep", Select)
        keep.set_options([(plain(number), number) for number in choices.numbers])
        if len(choices.numbers) == 1:
            keep.value = choices.numbers[0]
        keep.disabled = choices.customer_session or not choices.numbers
        self._keep_note()
        target = "#merge-other-number" if len(choices.numbers) == 1 else "#merge-keep"
        self.query_one(target).focus()

    def _keep_value(self) -> str:
        value = self.query_one("#merge-keep", Select).value
        return value if isinstance(value, str) else ""

    def _keep_note(self) -> None:
        note = self.query_one("#merge-keep-note", TranslatedLabel)
        number = self._keep_value()
        if number:
            note.set_message(KEEP_NOTE, number=number)
        elif self.choices is not None and not self.choices.numbers:
            note.set_message(KEEP_NONE)
        else:
            note.set_message(KEEP_CHOOSE if self.choices is not None else "")

    @on(Select.Changed, "#merge-keep")
    def _keep_changed(self) -> None:
        self._keep_note()

    @on(Input.Submitted, "#merge-other-number")
    def _to_credential(self) -> None:
        self.query_one("#merge-credential", Input).focus()

    def _require(self) -> bool:
        # the cursor goes where the customer has to type: the number to keep first
        keep = bool(self._keep_value())
        if not keep:
            self.query_one("#merge-keep-error", FieldError).show(self._(MSG_EMPTY))
        filled = require(self, "merge-other-number", "merge-credential", focus=keep)
        if not keep:
            self.query_one("#merge-keep").focus()
        return keep and filled

    def _values(self) -> tuple[str, str, str]:
        return (self._keep_value(), self.query_one("#merge-other-number", Input).value,
                self.query_one("#merge-credential", Input).value)

    @on(Input.Submitted, "#merge-credential")
    @on(TranslatedButton.Pressed, "#merge-next")
    def _next(self) -> None:
        clear_errors(self)
        if not self._require():
            return
        self.query_one(".form-box").loading = True
        self.run_service(merge.compare, self.app.backend, self.app.session_token,
                         *self._values(), self.app.caller, on_success=self._compared,
                         on_error=self._failed)

    # ----------------------------------------------------------------- step 2

    def _compared(self, found: merge.Comparison) -> None:
        self.query_one(".form-box").loading = False
        self.comparison = found
        self._set_columns()
        blocked = found.blocked and not found.already_merged
        self.query_one("#merge-blocked").display = blocked
        self.query_one("#merge-actions").display = not blocked
        if blocked:
            self.query_one("#merge-blocked-reference", TranslatedLabel).set_message(
                BLOCKED_REFERENCE, reference=found.reference)
        elif any(row.differs for row in found.rows):
            self.query_one("#merge-actions-help", TranslatedLabel).set_message(
                TAKE_OVER_HELP, kept=found.kept_number, other=found.other_number)
        else:
            self.query_one("#merge-actions-help", TranslatedLabel).set_message(SAME_DATA)
        self._step("diff")
        self.query_one("#merge-form-save" if blocked else "#merge-take-over").focus()

    def _fill_table(self, found: merge.Comparison) -> None:
        table = self.query_one("#merge-diff", DataTable)
        table.clear()
        widths = {key: width for key, _, width in COLUMNS}
        for row in found.rows:
            mark, style = "", ""
            if row.differs:
                mark, style = ((MARK_BLOCKS, BLOCK_STYLE) if row.blocking
                               else (MARK_DIFFERS, DIFF_STYLE))
            cells = [Text(mark, style=style), cell(self._(row.label), widths["field"]),
                     cell(row.kept or "—", widths["kept"]), cell(row.other or "—",
                                                                widths["other"])]
            for text in cells[1:]:
                text.stylize(style)
            table.add_row(*cells, key=row.field)

    @on(TranslatedButton.Pressed, "#merge-take-over")
    def _take_over(self) -> None:
        self._submit(take_over=True)

    @on(TranslatedButton.Pressed, "#merge-submit")
    def _submit_order(self) -> None:
        self._submit(take_over=False)

    def _submit(self, *, take_over: bool) -> None:
        clear_errors(self)
        keep, other, credential = self._values()
        self.query_one(".form-box").loading = True
        self.run_service(merge.submit, self.app.backend, self.app.session_token, keep, other,
                         credential, take_over, self.app.caller, on_success=self._done,
                         on_error=self._failed)

    @on(TranslatedButton.Pressed, "#merge-form-save")
    def _save_form(self) -> None:
        if self.comparison is None or self.comparison.reference is None:
            return
        self.run_service(merge.save_transfer_form, self.app.backend, self.app.session_token,
                         self.comparison.reference, self.app.language,
                         on_success=lambda path: self._notice(FORM_SAVED, path=path),
                         on_error=self._failed)

    @on(TranslatedButton.Pressed, "#merge-form-mail")
    def _mail_form(self) -> None:
        if self.comparison is None or self.comparison.reference is None:
            return
        self.run_service(merge.mail_transfer_form, self.app.backend, self.app.session_token,
                         self.comparison.reference, self.app.caller,
                         on_success=lambda email: self._notice(FORM_MAILED, email=email),
                         on_error=self._failed)

    def _notice(self, msgid: str, **params: object) -> None:
        clear_errors(self)
        self.query_one("#merge-notice", TranslatedLabel).set_message(msgid, **params)

    @on(TranslatedButton.Pressed, "#merge-diff-back")
    @on(TranslatedButton.Pressed, "#merge-blocked-back")
    def _back_to_numbers(self) -> None:
        self._restart(keep_other=True)

    # ----------------------------------------------------------------- step 3

    def _done(self, result: merge.MergeResult) -> None:
        self.query_one(".form-box").loading = False
        self.result = result
        params = {"reference": result.order_id, "kept": result.kept_number,
                  "merged": result.merged_number, "contracts": result.contracts,
                  "licences": result.licences}
        self.query_one("#merge-confirmation", TranslatedLabel).set_message(
            DONE_ALREADY if result.already else DONE, **params)
        self.query_one("#merge-confirmation-mail", TranslatedLabel).set_message(
            DONE_MAILED if result.mailed else "")
        self.query_one("#merge-credential", Input).value = ""
        self.query_one("#merge-account-offer").display = self.customer_session
        self.query_one("#merge-register").display = self.customer_session
        self._step("done")
        self.query_one("#merge-again").focus()

    @on(TranslatedButton.Pressed, "#merge-again")
    def _again(self) -> None:
        self._restart(keep_other=False)
        self._load()

    def _restart(self, *, keep_other: bool) -> None:
        clear_errors(self)
        self.comparison = None
        self._set_columns()
        self.query_one("#merge-notice", TranslatedLabel).set_message("")
        if not keep_other:
            self.query_one("#merge-other-number", Input).value = ""
        self.query_one("#merge-credential", Input).value = ""
        self._step("numbers")
        self.query_one("#merge-other-number", Input).focus()

    @on(TranslatedButton.Pressed, "#merge-register")
    def _register(self) -> None:
        self.app.end_session()
        self.app.switch_screen(self.app.FLOWS["register"]())

    @on(TranslatedButton.Pressed, "#merge-finish")
    @on(TranslatedButton.Pressed, "#merge-back")
    def _finish(self) -> None:
        self.action_back()

    def action_back(self) -> None:
        """From the comparison back to the numbers; otherwise back to the start page (a
        customer-number session has none: it ends, as after logging out)."""
        if self.query_one("#merge-step-diff").display:
            self._restart(keep_other=True)
        elif self.customer_session:
            self.app.logout()
        else:
            self.app.pop_screen()


def merge_flow(*, customer_login: bool = False) -> MergeScreen:
    """Factory for ``KioskApp.FLOWS["merge"]`` (``customer_login``: after a login with a
    customer number, from the login screen)."""
    return MergeScreen(customer_login=customer_login)
