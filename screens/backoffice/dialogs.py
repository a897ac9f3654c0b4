"""Dialogs of the back office: confirm an action, a note (comment / reason), the new
activation code shown once, the target account of a reassignment, a customer number."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from screens.widgets import (
    Field,
    FormError,
    KioskModal,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    plain,
    require,
)
from services.errors import N_


class DeskDialog(KioskModal):
    """Base: a framed box, escape cancels (dismisses ``None``)."""

    HELP_ARTICLE = "backoffice"
    CSS_PATH = "backoffice.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), id="cancel"),
    ]

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(TranslatedButton.Pressed, ".desk-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


class ConfirmDialog(DeskDialog):
    """"Really …?" — dismisses True on confirm. ``params`` fill the question (record text is
    inserted as plain text by the translation, never parsed as markup)."""

    def __init__(self, question: str, params: dict[str, object] | None = None, *,
                 confirm: str = N_("Confirm")) -> None:
        super().__init__()
        self.question, self.params, self.confirm = question, params or {}, confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="desk-dialog"):
            yield TranslatedLabel(self.question, params=self.params, id="confirm-question",
                                  markup=False)
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(self.confirm, id="confirm-yes", variant="warning")
                yield TranslatedButton(N_("Cancel"), id="confirm-no", classes="desk-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#confirm-yes").focus()

    @on(TranslatedButton.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)


class NoteDialog(DeskDialog):
    """A comment or a reason (one line, up to 2000 characters); dismisses the text."""

    def __init__(self, title: str, *, required: bool, params: dict[str, object] | None = None,
                 submit: str = N_("Save")) -> None:
        super().__init__()
        self.title_msgid, self.required, self.params, self.submit = title, required, params, submit

    def compose(self) -> ComposeResult:
        with Vertical(classes="desk-dialog"):
            yield TranslatedLabel(self.title_msgid, params=self.params, classes="form-title",
                                  markup=False)
            yield Field(N_("Text"), Input(id="note-text", max_length=2000),
                        required=self.required)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(self.submit, id="note-submit", variant="primary")
                yield TranslatedButton(N_("Cancel"), id="note-cancel", classes="desk-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#note-text", Input).focus()

    @on(Input.Submitted, "#note-text")
    @on(TranslatedButton.Pressed, "#note-submit")
    def _submit(self) -> None:
        clear_errors(self)
        if self.required and not require(self, "note-text"):
            return
        value = self.query_one("#note-text", Input).value.strip()
        self.dismiss(value)


class InputDialog(DeskDialog):
    """One value (a customer number, a user name or e-mail); dismisses it. The caller checks
    it with ``check`` (a service call through ``run_service``) before the dialog closes."""

    def __init__(self, title: str, label: str, input_id: str, check: Any = None) -> None:
        super().__init__()
        self.title_msgid, self.label, self.input_id, self.check = title, label, input_id, check

    def compose(self) -> ComposeResult:
        with Vertical(classes="desk-dialog"):
            yield TranslatedLabel(self.title_msgid, classes="form-title")
            yield Field(self.label, Input(id=self.input_id, max_length=254), required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Continue"), id=f"{self.input_id}-submit",
                                       variant="primary")
                yield TranslatedButton(N_("Cancel"), id=f"{self.input_id}-cancel",
                                       classes="desk-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(f"#{self.input_id}", Input).focus()

    @on(Input.Submitted)
    @on(TranslatedButton.Pressed)
    def _submit(self, event: Input.Submitted | TranslatedButton.Pressed) -> None:
        widget_id = getattr(event, "input", None) or getattr(event, "button", None)
        if widget_id is None or widget_id.id not in (self.input_id, f"{self.input_id}-submit"):
            return
        clear_errors(self)
        if not require(self, self.input_id):
            return
        value = self.query_one(f"#{self.input_id}", Input).value.strip()
        if self.check is None:
            self.dismiss(value)
            return
        self.run_service(self.check, value, on_success=self.dismiss, on_error=self._failed)

    def _failed(self, error: Any) -> None:
        from screens.widgets import show_domain_error

        show_domain_error(self, error, field_ids={"value": self.input_id})


class CodeDialog(DeskDialog):
    """The new activation code, shown once, with the path of the printable letter."""

    def __init__(self, number: str, code: str, valid_until: str, letter: str) -> None:
        super().__init__()
        self.number, self.code, self.valid_until, self.letter = number, code, valid_until, letter

    def compose(self) -> ComposeResult:
        with Vertical(classes="desk-dialog"):
            yield TranslatedLabel(N_("New activation code for customer number {number}"),
                                  params={"number": self.number}, classes="form-title",
                                  markup=False)
            yield Static(plain(self.code), id="issued-code")
            yield TranslatedLabel(N_("Valid until {date}. It is shown only now; the letter "
                                     "to print is saved as:"),
                                  params={"date": self.valid_until}, markup=False)
            yield Static(plain(self.letter), id="issued-letter")
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Close"), id="issued-close", variant="primary",
                                       classes="desk-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#issued-close").focus()
