"""Objections to a contract link at the service desk (#5, #9).

The customer on record got a mail with an objection code when their contract was linked to a
portal account. An agent records it here ("Widerspruch erfassen"): the code goes to
``services.contracts.object_to_link`` with the agent's session; the answer names the contract
and the customer (never the code). The request waits in the contract-link queue; the agent can
open the customer and end the link there ("Vertragsverknüpfung aufheben").
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input

from screens.backoffice.dialogs import DeskDialog
from screens.widgets import (
    Field,
    FieldError,
    FormError,
    TranslatedButton,
    TranslatedLabel,
    clear_errors,
    error_message,
    require,
    show_domain_error,
)
from services import contracts, sessions
from services.errors import N_, DomainError

OPEN_CUSTOMER = "open"


class ObjectionDialog(DeskDialog):
    """The objection code (``#objection-code``, its error beside it); dismisses the
    ``ObjectionResult`` once the service recorded the request, ``None`` on cancel."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="desk-dialog", id="objection-dialog"):
            yield TranslatedLabel(N_("Record an objection"), classes="form-title")
            yield TranslatedLabel(N_("The customer on record objects to a contract link with "
                                     "the objection code from our e-mail. A request for the "
                                     "contract-link queue is created."), classes="form-hint")
            yield Field(N_("Objection code"), Input(id="objection-code", max_length=40),
                        required=True)
            yield FormError()
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Record an objection"), id="objection-submit",
                                       variant="primary")
                yield TranslatedButton(N_("Cancel"), id="objection-cancel", classes="desk-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#objection-code", Input).focus()

    @on(Input.Submitted, "#objection-code")
    @on(TranslatedButton.Pressed, "#objection-submit")
    def _submit(self) -> None:
        clear_errors(self)
        if not require(self, "objection-code"):
            return
        code = self.query_one("#objection-code", Input).value.strip()
        self.query_one("#objection-submit", TranslatedButton).disabled = True
        app: Any = self.app
        self.run_service(contracts.object_to_link, app.backend, app.session_token, code,
                         app.caller, on_success=self.dismiss, on_error=self._failed)

    def _failed(self, error: DomainError) -> None:
        """Beside the field when the error concerns the code (wrong, wait), else above the
        buttons; an ended agent session goes back to the start."""
        self.query_one("#objection-submit", TranslatedButton).disabled = False
        if isinstance(error, sessions.SessionExpired):
            self.dismiss(None)
            self.app.session_expired(error)  # type: ignore[attr-defined]
            return
        clear_errors(self)
        if "objection_code" in error.fields:
            self.query_one("#objection-code-error", FieldError).show(
                error_message(self, error, error.fields["objection_code"]))
        else:
            show_domain_error(self, error)
        self.query_one("#objection-code", Input).focus()


class ObjectionDoneDialog(DeskDialog):
    """What was recorded: request, contract, customer and the linked user. Dismisses
    ``OPEN_CUSTOMER`` when the agent opens the customer, else ``None``."""

    def __init__(self, result: contracts.ObjectionResult) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        result = self.result
        params = {"reference": result.reference, "number": result.contract_number,
                  "customer": result.customer_number, "name": result.customer_name,
                  "user": result.linked_account}
        title = (N_("Objection recorded as request {reference}.") if result.created else
                 N_("This objection is already waiting as request {reference}."))
        with Vertical(classes="desk-dialog", id="objection-done"):
            yield TranslatedLabel(title, params=params, classes="form-title",
                                  id="objection-result-title")
            yield TranslatedLabel(N_("Contract {number} of customer {customer} ({name}) is "
                                     "linked to the user account {user}."), params=params,
                                  id="objection-result")
            yield TranslatedLabel(N_("Open the customer to end the link (key a on the "
                                     "contract)."), classes="form-hint")
            with Horizontal(classes="form-buttons"):
                yield TranslatedButton(N_("Open customer"), id="objection-open",
                                       variant="primary")
                yield TranslatedButton(N_("Close"), id="objection-close", classes="desk-cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#objection-open").focus()

    @on(TranslatedButton.Pressed, "#objection-open")
    def _open(self) -> None:
        self.dismiss(OPEN_CUSTOMER)


__all__ = ["OPEN_CUSTOMER", "ObjectionDialog", "ObjectionDoneDialog"]
