"""One login form for customers (``screens.login``) and service-desk agents
(``screens.backoffice.login``): a title, a line below it, the identifier and the password,
``#form-error`` and the buttons, "Log in" first.

A subclass sets ``PREFIX`` (the ids ``#<prefix>-identifier``, ``#<prefix>-password``,
``#<prefix>-submit``), the texts and ``BUTTONS``, and implements ``login()`` (the service
call), ``intro()`` (the line below the title) and ``_logged_in()``. ``rejected()`` may take
an error over before it is shown beside the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Footer, Input

from screens.widgets import (
    Field,
    FormError,
    KioskScreen,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    require,
    show_domain_error,
)
from services.errors import N_, DomainError


class LoginFormScreen(KioskScreen):
    HELP_ARTICLE = "login"  # the subclasses name their own
    PREFIX: ClassVar[str] = "login"
    TITLE_MSGID: ClassVar[str] = N_("Log in")
    IDENTIFIER_LABEL: ClassVar[str] = ""
    IDENTIFIER_MAX_LENGTH: ClassVar[int] = 254
    #: (id suffix, label msgid) of the buttons beside "Log in"
    BUTTONS: ClassVar[tuple[tuple[str, str], ...]] = ()

    identifier = ""

    # -- what differs ------------------------------------------------------------------------
    def intro(self) -> Widget:
        """The line below the title."""
        raise NotImplementedError

    def login(self) -> Callable[..., Any]:
        """The service: ``login(backend, identifier, password, caller)``."""
        raise NotImplementedError

    def _logged_in(self, result: Any) -> None:
        raise NotImplementedError

    def rejected(self, error: DomainError, password: str) -> bool:
        """True when the error was dealt with (another step opened); the typed password is
        passed on, the field is already empty."""
        return False

    # -- the form ----------------------------------------------------------------------------
    def _widget_id(self, name: str) -> str:
        return f"{self.PREFIX}-{name}"

    @property
    def identifier_input(self) -> Input:
        return self.query_one(f"#{self._widget_id('identifier')}", Input)

    @property
    def password_input(self) -> Input:
        return self.query_one(f"#{self._widget_id('password')}", Input)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(self.TITLE_MSGID, classes="form-title")
            yield self.intro()
            yield Field(self.IDENTIFIER_LABEL,
                        Input(self.identifier, id=self._widget_id("identifier"),
                              max_length=self.IDENTIFIER_MAX_LENGTH),
                        required=True)
            yield Field(N_("Password"), Input(id=self._widget_id("password"), password=True,
                                              max_length=300), required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Log in"), id=self._widget_id("submit"), variant="primary")
                for suffix, label in self.BUTTONS:
                    yield TranslatedButton(label, id=self._widget_id(suffix))
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == self._widget_id("identifier"):
            self.password_input.focus()
        elif event.input.id == self._widget_id("password"):
            self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self._widget_id("submit"):
            self.action_submit()

    def action_submit(self) -> None:
        clear_errors(self)
        if not require(self, self._widget_id("identifier"), self._widget_id("password")):
            return
        identifier = self.identifier_input.value
        password = self.password_input.value
        self.query_one(".form-box").loading = True
        self.run_service(self.login(), self.app.backend, identifier, password,  # type: ignore[attr-defined]
                         self.app.caller, on_success=self._logged_in, on_error=self._failed)  # type: ignore[attr-defined]

    def _failed(self, error: DomainError) -> None:
        self.query_one(".form-box").loading = False
        password_input = self.password_input
        password, password_input.value = password_input.value, ""
        if self.rejected(error, password):
            return
        show_domain_error(self, error, prefix=self.PREFIX)
        self.password_input.focus()
