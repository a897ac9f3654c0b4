"""Shared widgets and helpers for every screen.

* ``KioskScreen``: base screen with ``HELP_ARTICLE``, ``_()`` (current language) and the
  ``refresh_texts()`` hook the app calls after a language switch; ``run_service()`` runs a
  service call in a thread worker and hands the result (or a translated error) back to the UI.
* ``Field``: Label (``*`` when required) + input widget + error Static ``#<input-id>-error``.
* ``FormError``: a screen's general error, ``#form-error``.
* ``date_text()``: a date as TT.MM.JJJJ (German) / DD/MM/YYYY (English).
* ``plain()``: record and user text as ``rich.text.Text`` — never parsed as markup.
* ``show_domain_error()`` / ``clear_errors()``: map a ``DomainError`` to the error widgets.

Message ids are English; translation happens when a text is shown, never at import time.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, Static, TextArea

from services.errors import N_, DomainError
from services.i18n import DEFAULT_LANGUAGE, format_date, translate

log = logging.getLogger("kundenkiosk.screens")

GENERIC_ERROR = N_("Something went wrong. Please try again or ask the staff for help.")
MSG_EMPTY = N_("This field must not be empty.")


def plain(text: object) -> Text:
    """Record or user text as literal text: ``[b]`` stays ``[b]``; control characters go."""
    value = "" if text is None else str(text)
    value = "".join(ch for ch in value if ch in "\n\t" or (ch.isprintable()))
    return Text(value)


def language_of(node: DOMNode) -> str:
    try:
        return str(getattr(node.app, "language", DEFAULT_LANGUAGE))
    except Exception:  # noqa: BLE001 - not attached to an app (unit use)
        return DEFAULT_LANGUAGE


def tr(node: DOMNode, message: str, **params: object) -> str:
    """Translate ``message`` into the language of ``node``'s app."""
    return translate(language_of(node), message, **params)


def date_text(node: DOMNode, value: Any) -> Text:
    """A date as literal text in the app's language: TT.MM.JJJJ in German."""
    return Text(format_date(value, language_of(node)))


def translate_bindings(node: DOMNode, language: str, *, skip: Iterable[str] = ()) -> None:
    """Re-resolve the class-level binding descriptions (English msgids) in ``language``.

    Bindings whose id is in ``skip`` are left out (e.g. "quit" in kiosk mode).
    """
    original = type(node)._merge_bindings()
    skipped = set(skip)
    keys: dict[str, list[Any]] = {}
    for key, bindings in original.key_to_bindings.items():
        kept = [binding for binding in bindings if binding.id not in skipped or not binding.id]
        if not kept:
            continue
        keys[key] = [
            dataclasses.replace(
                binding,
                description=translate(language, binding.description) if binding.description else "",
                tooltip=translate(language, binding.tooltip) if binding.tooltip else "",
            )
            for binding in kept
        ]
    node._bindings = BindingsMap.from_keys(keys)


def error_message(node: DOMNode, error: DomainError, message: str | None = None) -> str:
    msgid = message if message is not None else error.message
    text = tr(node, msgid)
    try:
        return text.format(**error.params) if error.params else text
    except (KeyError, IndexError, ValueError):
        return text


class FormError(Static):
    """A screen's general error (``#form-error``); empty and hidden until set."""

    DEFAULT_CSS = """
    FormError { color: $text-error; display: none; margin: 0 0 1 0; }
    FormError.-shown { display: block; }
    """

    def __init__(self, *, id: str = "form-error", classes: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id, classes=classes, markup=False)

    def show(self, text: str | Text) -> None:
        self.update(text if isinstance(text, Text) else plain(text))
        self.set_class(bool(str(text)), "-shown")

    def clear(self) -> None:
        self.update("")
        self.remove_class("-shown")


class FieldError(Static):
    DEFAULT_CSS = """
    FieldError { color: $text-error; height: auto; display: none; }
    FieldError.-shown { display: block; }
    """

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__("", id=id, markup=False)

    def show(self, text: str) -> None:
        self.update(plain(text))
        self.set_class(bool(text), "-shown")

    def clear(self) -> None:
        self.update("")
        self.remove_class("-shown")


class Field(Vertical):
    """Label + input widget + ``#<input-id>-error``. ``label`` is an English msgid.

    ``Field(N_("E-mail address"), Input(id="register-email"), required=True)``
    """

    DEFAULT_CSS = """
    Field { height: auto; margin: 0 0 1 0; }
    Field > .field-label { color: $text; }
    Field > .field-hint { color: $text-muted; width: 100%; }
    """

    def __init__(
        self,
        label: str,
        widget: Widget,
        *,
        required: bool = False,
        hint: str | None = None,
        id: str | None = None,  # noqa: A002
        classes: str | None = None,
    ) -> None:
        if not widget.id:
            raise ValueError("Field needs an input widget with an id")
        super().__init__(id=id or f"{widget.id}-field", classes=classes)
        self.label_msgid = label
        self.hint_msgid = hint
        self.required = required
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield Label(self._label_text(), classes="field-label", markup=False)
        yield self.widget
        if self.hint_msgid:
            yield Label(tr(self, self.hint_msgid), classes="field-hint", markup=False)
        yield FieldError(id=f"{self.widget.id}-error")

    def _label_text(self) -> str:
        return tr(self, self.label_msgid) + (" *" if self.required else "")

    def refresh_texts(self) -> None:
        self.query_one(".field-label", Label).update(self._label_text())
        if self.hint_msgid:
            self.query_one(".field-hint", Label).update(tr(self, self.hint_msgid))

    @property
    def error(self) -> FieldError:
        return self.query_one(f"#{self.widget.id}-error", FieldError)


def require(screen: Any, *widget_ids: str, focus: bool = True) -> bool:
    """Say "must not be empty" beside every empty input of ``widget_ids``; True when all are
    filled. The cursor goes to the first empty one (``focus=False``: it stays where it is)."""
    empty = [widget_id for widget_id in widget_ids
             if not screen.query_one(f"#{widget_id}", Input).value.strip()]
    for widget_id in empty:
        screen.query_one(f"#{widget_id}-error", FieldError).show(screen._(MSG_EMPTY))
    if focus and empty:
        screen.query_one(f"#{empty[0]}").focus()
    return not empty


def clear_errors(screen: DOMNode) -> None:
    for widget in screen.query(FieldError):
        widget.clear()
    for widget in screen.query(FormError):
        widget.clear()


def reveal(*widgets: Widget) -> None:
    """Scroll each widget into view once the layout has caught up (a message just shown or
    a button just displayed lies below the visible part on a small terminal)."""
    for widget in widgets:
        widget.call_after_refresh(widget.scroll_visible, animate=False)


def show_domain_error(
    screen: DOMNode,
    error: DomainError,
    *,
    prefix: str | None = None,
    field_ids: dict[str, str] | None = None,
) -> None:
    """Show ``error`` beside its fields and in ``#form-error``, translated; each text once.

    A field name ``customer_number`` maps to ``#<prefix>-customer-number-error`` (or to the
    widget id given in ``field_ids``). Field errors with no widget and the general message
    go to ``#form-error`` - the general message only when it says something the fields do
    not (a wrong code is shown beside the code, not a second time below the form); without
    ``#form-error`` the message becomes a notification.
    """
    clear_errors(screen)
    leftovers: list[str] = []
    shown: set[str] = set()
    for name, msgid in error.fields.items():
        widget_id = (field_ids or {}).get(name)
        if widget_id is None and prefix:
            widget_id = f"{prefix}-{name.replace('_', '-')}"
        text = error_message(screen, error, msgid)
        try:
            if widget_id is None:
                raise NoMatches(name)
            screen.query_one(f"#{widget_id}-error", FieldError).show(text)
            shown.add(text)
        except NoMatches:
            leftovers.append(text)
    message = error_message(screen, error)
    general = " ".join([*([message] if message not in shown else []), *leftovers])
    first = next((w for w in screen.query(FieldError) if w.has_class("-shown")), None)
    if first is not None:
        reveal(first)
    if not general:
        return
    try:
        form_error = screen.query_one("#form-error", FormError)
        form_error.show(general)
        reveal(form_error)
    except NoMatches:
        screen.app.notify(general, severity="error", markup=False)


class _ServiceMixin:
    """``run_service(fn, *args, on_success=..., on_error=...)`` for screens and dialogs."""

    @work(thread=True, exit_on_error=False, group="service")
    def run_service(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_success: Callable[[Any], None] | None = None,
        on_error: Callable[[DomainError], None] | None = None,
        **kwargs: Any,
    ) -> None:
        app = self.app  # type: ignore[attr-defined]
        try:
            result = fn(*args, **kwargs)
        except DomainError as exc:
            app.call_from_thread(self._service_failed, exc, on_error)
            return
        except Exception as exc:  # noqa: BLE001 - never a traceback on screen
            log.exception("service call %s failed", getattr(fn, "__name__", fn))
            app.call_from_thread(
                self._service_failed, DomainError(GENERIC_ERROR, code="internal"), on_error
            )
            del exc
            return
        if on_success is not None:
            app.call_from_thread(self._service_done, on_success, result)

    def _service_done(self, callback: Callable[[Any], None], result: Any) -> None:
        if self.is_attached:  # type: ignore[attr-defined] - wiped meanwhile: drop it
            callback(result)

    def _service_failed(
        self, error: DomainError, callback: Callable[[DomainError], None] | None
    ) -> None:
        if not self.is_attached:  # type: ignore[attr-defined]
            return
        if callback is not None:
            callback(error)
        else:
            show_domain_error(self, error)  # type: ignore[arg-type]


class _KioskBase(_ServiceMixin):
    """What every kiosk screen and dialog shares: help article, translation, language refresh."""

    HELP_ARTICLE: str = "welcome"

    def _(self, message: str, **params: object) -> str:
        return tr(self, message, **params)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        translate_bindings(self, language_of(self))  # type: ignore[arg-type]
        apply_cursor_blink(self)  # type: ignore[arg-type]
        for footer in self.query(Footer):  # type: ignore[attr-defined]
            footer.compact = True  # F1-F3 and the screen's keys fit 80 columns

    def refresh_texts(self) -> None:
        """Re-translate every text; the base version handles ``Field``, translated buttons
        and labels, and the bindings. Screens override it for anything else."""
        translate_bindings(self, language_of(self))  # type: ignore[arg-type]
        for kind in (Field, TranslatedButton, TranslatedLabel):
            for widget in self.query(kind):  # type: ignore[attr-defined]
                widget.refresh_texts()
        self.refresh_bindings()  # type: ignore[attr-defined]

    def action_back(self) -> None:
        """Back to the previous screen (bound to escape where a screen offers it)."""
        self.app.pop_screen()  # type: ignore[attr-defined]


class KioskScreen(_KioskBase, Screen):
    """Base of every kiosk screen. Subclasses set ``HELP_ARTICLE`` and override
    ``refresh_texts()`` to re-translate their labels (called after a language switch)."""

    def wipe_inputs(self) -> None:
        wipe_inputs(self)


class KioskModal(_KioskBase, ModalScreen[Any]):
    """Base of every kiosk dialog. Without a ``HELP_ARTICLE`` of its own a dialog's F1 opens
    the article of the screen beneath it."""

    HELP_ARTICLE = ""


class TranslatedButton(Button):
    """A button whose label is an English msgid, re-translated on a language switch."""

    def __init__(self, msgid: str, **kwargs: Any) -> None:
        super().__init__(msgid, **kwargs)
        self.msgid = msgid

    def on_mount(self) -> None:
        self.refresh_texts()

    def refresh_texts(self) -> None:
        self.label = Text(tr(self, self.msgid))


class TranslatedLabel(Label):
    """A label whose text is an English msgid (``{params}`` filled), re-translated on switch."""

    def __init__(self, msgid: str, params: dict[str, object] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__("", **kwargs)
        self.msgid = msgid
        self.params = params or {}

    def on_mount(self) -> None:
        self.refresh_texts()

    def set_message(self, msgid: str, **params: object) -> None:
        self.msgid = msgid
        self.params = dict(params)
        self.refresh_texts()

    def refresh_texts(self) -> None:
        self.update(plain(tr(self, self.msgid, **self.params)))



class PasswordDialog(KioskModal):
    """Ask for the password and run one service with it (re-entry, unlinking, …).

    Subclasses set ``PREFIX`` (ids ``#<prefix>-password``, ``-submit``, ``-cancel``), ``INTRO``
    (an English msgid, filled from ``intro_params``), ``SUBMIT``, ``CANCELLED`` (the dismiss
    value on cancel) and implement ``call(password)``, which runs the service with
    ``on_error=self.failed``.
    """

    DEFAULT_CSS = """
    PasswordDialog { align: center middle; }
    PasswordDialog > Vertical { width: 64; max-width: 100%; height: auto;
                                border: thick $primary; background: $surface; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel"), id="cancel"),
    ]
    PREFIX = "password"
    INTRO = ""
    SUBMIT = N_("Confirm")
    SUBMIT_VARIANT = "primary"
    CANCELLED: Any = None
    intro_params: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield TranslatedLabel(self.INTRO, params=self.intro_params, classes="form-intro")
            yield Field(N_("Password"), Input(id=f"{self.PREFIX}-password", password=True,
                                              max_length=300), required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(self.SUBMIT, id=f"{self.PREFIX}-submit",
                                       variant=self.SUBMIT_VARIANT)
                yield TranslatedButton(N_("Cancel"), id=f"{self.PREFIX}-cancel")

    @property
    def password_input(self) -> Input:
        return self.query_one(f"#{self.PREFIX}-password", Input)

    def on_mount(self) -> None:
        super().on_mount()
        self.password_input.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == f"{self.PREFIX}-password":
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.PREFIX}-submit":
            self._submit()
        elif event.button.id == f"{self.PREFIX}-cancel":
            self.action_cancel()

    def _submit(self) -> None:
        clear_errors(self)
        password = self.password_input.value
        if not password:
            self.query_one(f"#{self.PREFIX}-password-error", FieldError).show(
                self._(N_("This field must not be empty.")))
            return
        self.call(password)

    def call(self, password: str) -> None:
        raise NotImplementedError

    def failed(self, error: DomainError) -> None:
        password = self.password_input
        password.value = ""
        show_domain_error(self, error, prefix=self.PREFIX,
                          field_ids={"password": f"{self.PREFIX}-password"})
        password.focus()

    def action_cancel(self) -> None:
        self.dismiss(self.CANCELLED)

def apply_cursor_blink(screen: DOMNode) -> None:
    """Turn cursor blinking off when the app says so (snapshots, screen readers)."""
    if getattr(screen.app, "cursor_blink", True):
        return
    for widget in screen.query(Input):
        widget.cursor_blink = False
    for area in screen.query(TextArea):
        area.cursor_blink = False


def wipe_inputs(root: DOMNode | Iterable[DOMNode]) -> None:
    """Empty every Input and TextArea below ``root`` (idle wipe)."""
    roots = [root] if isinstance(root, DOMNode) else list(root)
    for node in roots:
        for widget in node.query(Input):
            widget.value = ""
        for area in node.query(TextArea):
            area.text = ""
