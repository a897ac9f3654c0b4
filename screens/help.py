"""Help: the article for the current screen, with the guide's article feedback.

"War dieser Artikel hilfreich? Ja / Nein" — on "Nein" the reasons of the guide, an optional
comment and "Feedback senden"; then "Vielen Dank für Ihr Feedback!". Stored by
``services.feedback.submit_feedback`` in a thread worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Markdown, RadioButton, RadioSet, TextArea

from screens.widgets import (
    FieldError,
    FormError,
    KioskModal,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    language_of,
    show_domain_error,
    tr,
)
from services.errors import N_, DomainError
from services.feedback import COMMENT_MAX, REASONS

HELP_DIR = Path(__file__).resolve().parent.parent / "assets" / "help"
#: Every article that exists (in German, the fallback language): each screen's F1 opens its own.
ARTICLES = tuple(sorted(path.stem for path in (HELP_DIR / "de").glob("*.md")))


def article_path(name: str, language: str) -> Path:
    for lang in (language, "de"):
        path = HELP_DIR / lang / f"{name}.md"
        if path.is_file():
            return path
    return HELP_DIR / language / "welcome.md"


def load_article(name: str, language: str) -> str:
    try:
        return article_path(name, language).read_text(encoding="utf-8")
    except OSError:
        return ""


class HelpScreen(KioskModal):
    """``HelpScreen("merge")`` — dismisses with ``None``."""

    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", N_("Close"), id="help-close"),
    ]

    def __init__(self, article: str) -> None:
        super().__init__()
        self.article = article if article in ARTICLES else "welcome"
        self.HELP_ARTICLE = self.article
        self.feedback_state = "ask"  # ask -> reasons -> thanks

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield TranslatedLabel(N_("Help"), id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Markdown(load_article(self.article, language_of(self)), id="help-article",
                               open_links=False)
                with Vertical(id="help-feedback"):
                    yield TranslatedLabel(N_("Was this article helpful?"), id="help-question")
                    with Horizontal(id="help-answer"):
                        yield TranslatedButton(N_("Yes"), id="help-yes", classes="help-answer")
                        yield TranslatedButton(N_("No"), id="help-no", classes="help-answer")
                    with Vertical(id="help-reasons"):
                        yield TranslatedLabel(
                            N_("We are sorry. Why did the article not help you?"),
                            id="help-sorry")
                        with RadioSet(id="help-reason"):
                            for code, msgid in REASONS.items():
                                yield RadioButton(tr(self, msgid), id=f"help-reason-{code}")
                        yield FieldError(id="help-reason-error")
                        yield TranslatedLabel(N_("Comment (optional)"), id="help-comment-label")
                        yield TextArea(id="help-comment", soft_wrap=True, show_line_numbers=False)
                        yield FieldError(id="help-comment-error")
                        yield FormError()
                        yield TranslatedButton(N_("Send feedback"), id="help-send",
                                               variant="primary")
                    yield TranslatedLabel(N_("Thank you for your feedback!"), id="help-thanks")
            yield TranslatedButton(N_("Close"), id="help-close")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._show_state()
        self.query_one("#help-scroll").focus()

    def _show_state(self) -> None:
        self.query_one("#help-answer").display = self.feedback_state == "ask"
        self.query_one("#help-question").display = self.feedback_state != "thanks"
        self.query_one("#help-reasons").display = self.feedback_state == "reasons"
        self.query_one("#help-thanks").display = self.feedback_state == "thanks"

    def refresh_texts(self) -> None:
        super().refresh_texts()
        self.query_one("#help-article", Markdown).update(
            load_article(self.article, language_of(self)))
        for code, msgid in REASONS.items():
            self.query_one(f"#help-reason-{code}", RadioButton).label = tr(self, msgid)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#help-close")
    def _close(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    @on(Button.Pressed, "#help-yes")
    def _yes(self, event: Button.Pressed) -> None:
        event.stop()
        self._submit(helpful=True, reason=None, comment=None)

    @on(Button.Pressed, "#help-no")
    def _no(self, event: Button.Pressed) -> None:
        event.stop()
        self.feedback_state = "reasons"
        self._show_state()
        self.query_one("#help-reason", RadioSet).focus()

    @on(Button.Pressed, "#help-send")
    def _send(self, event: Button.Pressed) -> None:
        event.stop()
        clear_errors(self)
        pressed = self.query_one("#help-reason", RadioSet).pressed_button
        reason = (pressed.id or "").removeprefix("help-reason-") if pressed else None
        comment = self.query_one("#help-comment", TextArea).text.strip()
        if reason is None:
            self.query_one("#help-reason-error", FieldError).show(
                tr(self, N_("Please choose a reason.")))
            return
        if len(comment) > COMMENT_MAX:
            self.query_one("#help-comment-error", FieldError).show(
                tr(self, N_("The comment may have at most {max} characters."), max=COMMENT_MAX))
            return
        self._submit(helpful=False, reason=reason, comment=comment or None)

    def _submit(self, *, helpful: bool, reason: str | None, comment: str | None) -> None:
        from services.feedback import submit_feedback

        for button in self.query("#help-yes, #help-no, #help-send").results(Button):
            button.disabled = True
        self.run_service(
            submit_feedback, self.app.backend,  # type: ignore[attr-defined]
            article=self.article, helpful=helpful, reason=reason, comment=comment,
            caller=self.app.caller,  # type: ignore[attr-defined]
            on_success=self._stored, on_error=self._failed,
        )

    def _stored(self, _result: Any) -> None:
        self.feedback_state = "thanks"
        self._show_state()
        self.query_one("#help-close", Button).focus()

    def _failed(self, error: DomainError) -> None:
        for button in self.query("#help-yes, #help-no, #help-send").results(Button):
            button.disabled = False
        if self.feedback_state == "ask":
            self.feedback_state = "reasons"
            self._show_state()
        show_domain_error(self, error, prefix="help")
