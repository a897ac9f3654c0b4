"""What the back-office screens share: calling a desk service with the agent's session,
showing its errors (an ended session goes back to the start), opening customers and
accounts, and the translated queue names."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from screens.labels import CUSTOMER_TYPE_LABELS
from screens.widgets import error_message
from services import backoffice, sessions
from services.errors import N_, DomainError

log = logging.getLogger("kundenkiosk.backoffice")
GENERIC = N_("Something went wrong. Please try again or ask the staff for help.")
QUEUE_NAMES = {
    "link_conflict_taken": N_("Customer number already assigned"),
    "link_conflict_type": N_("Already a number of this type"),
    "address_review": N_("Address reviews (registration)"),
    "contract_link_blocked": N_("Contract links blocked"),
    "merge_blocked": N_("Merges blocked (names differ)"),
    "guessing_alarm": N_("Guessing alarms (many failed attempts)"),
    backoffice.STALE_ORG: N_("Waiting organisation requests"),
    "privacy_deletion": N_("Data protection"),  # #16
}


#: Subjects other flows store in English on their requests (shown translated).
KNOWN_SUBJECTS = (
    N_("Customer number already assigned to another user"),
    N_("Account already has a customer number of this type"),
    N_("Many wrong Freischaltcodes for one customer number"),
    N_("Many failed attempts to link one contract"),
    N_("Many wrong proofs for one customer number in the merge"),
    N_("Address review after registration"),
    N_("Contract link blocked after failed attempts"),
    N_("Contract already linked to another user"),
    N_("Merge blocked: names differ, signed contract transfer form needed"),
)
#: The keys of a request's details and the internal values in them, as an agent reads them.
DETAIL_KEYS = {
    "customer_number": N_("Customer number"), "reason": N_("Reason"), "name": N_("Name"),
    "street": N_("Street"), "postal_code": N_("Postal code"), "city": N_("City"),
    "country": N_("Country"), "customer_type": N_("Customer type"),
    "contract_number": N_("Contract number"), "terminal": N_("Terminal"),
    "account_username": N_("User name"), "account_email": N_("E-mail address"),
    "account_name": N_("Name in the user account"), "contract_id": N_("Contract (internal id)"),
    "linked_account_id": N_("Linked to user account (id)"), "customer_name": N_("Name"),
    "customer_address": N_("Address"), "account_type": N_("Customer type of the account"),
    "code_checked": N_("Activation code checked"),
    "numbers_of_this_type": N_("Numbers of this type"), "kept_number": N_("Number kept"),
    "other_number": N_("Other number"), "kept_name": N_("Name (kept number)"),
    "other_name": N_("Name (other number)"), "differing_fields": N_("Differing fields"),
    "blocking_fields": N_("Blocking fields"), "differences": N_("Differences"),
    "proof_checked": N_("Ownership proven"), "customer_session": N_("Without a user account"),
}
DETAIL_VALUES = {
    "True": N_("yes"), "False": N_("no"), "no_number": N_("no customer number given"),
    "not_found": N_("customer number not found"), "mismatch": N_("address does not match"),
    "taken": N_("already linked to another user"),
    "type_taken": N_("already a number of this type"),
    "attempt_limit": N_("too many failed attempts"), "objection": N_("objection"),
}
#: States of contracts, requests, memberships, merges, accounts; roles and consent kinds.
STATES = {
    "active": N_("active"), "expired": N_("expired"), "cancelled": N_("cancelled"),
    "open": N_("open"), "taken": N_("in progress"), "resolved": N_("resolved"),
    "rejected": N_("rejected"), "pending_approval": N_("waiting for approval"),
    "pending_email": N_("e-mail not confirmed"), "approved": N_("approved"),
    "invited": N_("invited"), "removed": N_("removed"), "super_admin": N_("Super admin"),
    "admin": N_("Admin"), "member": N_("Member"), "terms": N_("Terms of use"),
    "privacy": N_("Privacy statement"), "marketing": N_("Marketing"),
    "advertising": N_("Advertising"), "done": N_("done"), "reversed": N_("reversed"),
    "unverified": N_("not confirmed"), "locked": N_("locked"), "disabled": N_("disabled"),
}


def human(node: Any, value: str, labels: dict[str, str] = DETAIL_VALUES) -> str:
    """An internal value (a reason, True, a customer type; with ``STATES`` a state) as the
    agent reads it, translated."""
    if value in CUSTOMER_TYPE_LABELS and labels is DETAIL_VALUES:
        return node._(CUSTOMER_TYPE_LABELS[value])  # type: ignore[no-any-return]
    return node._(labels[value]) if value in labels else value  # type: ignore[no-any-return]


def detail_line(node: Any, key: str, value: str) -> str:
    """One line of a request's details: translated key, human value (lists item by item)."""
    label = node._(DETAIL_KEYS[key]) if key in DETAIL_KEYS else key.replace("_", " ")
    if value == "[]" or value.startswith("['") and value.endswith("']"):  # a list of names
        items = [v.strip().strip("'") for v in value[1:-1].split(",") if v.strip()]
        value = ", ".join(human(node, v) for v in items) or "—"
    return f"{label}: {human(node, value)}"


def queue_label(node: Any, kind: str) -> str:
    return node._(QUEUE_NAMES.get(kind, kind))  # type: ignore[no-any-return]


class DeskMixin:
    """Mixed into the back-office screens (before ``KioskScreen``)."""

    def desk_failed(self, error: DomainError | None) -> None:
        """Show a service error as a notification; an ended session wipes to the start."""
        screen: Any = self
        if not screen.is_attached:
            return
        if isinstance(error, sessions.SessionExpired):
            screen.app.session_expired(error)
            return
        text = error_message(screen, error) if error is not None else screen._(GENERIC)
        screen.app.notify(text, severity="error", markup=False, timeout=8)

    def desk_call(self, fn: Callable[..., Any], *args: Any, done: str | None = None,
                  params: dict[str, object] | None = None,
                  then: Callable[[Any], None] | None = None) -> None:
        """``fn(backend, token, *args)`` in a worker; on success a notification (``done``,
        or the result's own message) and ``then(result)``."""
        screen: Any = self

        def success(result: Any) -> None:
            message = done or getattr(result, "message", None)
            if message:
                values = params if done else getattr(result, "params", {})
                screen.app.notify(screen._(message, **(values or {})), markup=False)
            if then is not None:
                then(result)

        screen.run_service(fn, screen.app.backend, screen.app.session_token, *args,
                           on_success=success, on_error=self.desk_failed)

    def desk_load(self, group: str, fn: Callable[..., Any], *args: Any,
                  then: Callable[[Any], None]) -> None:
        """``fn(backend, token, *args)`` in an exclusive thread worker of ``group`` (a newer
        call cancels the older one's answer); ``then(result)`` on the UI thread."""
        screen: Any = self
        app = screen.app
        backend, token = app.backend, app.session_token

        def run() -> None:
            try:
                result = fn(backend, token, *args)
            except DomainError as error:
                app.call_from_thread(self.desk_failed, error)
                return
            except Exception:  # noqa: BLE001 - never a traceback on screen
                log.exception("back-office call %s failed", getattr(fn, "__name__", fn))
                app.call_from_thread(self.desk_failed, None)
                return
            app.call_from_thread(self._desk_loaded, then, result)

        screen.run_worker(run, thread=True, exclusive=True, exit_on_error=False, group=group)

    def _desk_loaded(self, then: Callable[[Any], None], result: Any) -> None:
        if getattr(self, "is_attached", False):
            then(result)

    def open_customer(self, customer_id: int, contract: str | None = None) -> None:
        screen: Any = self
        screen.app.open_flow("desk-customer", customer_id, contract)

    def open_account(self, account_id: int) -> None:
        screen: Any = self
        screen.app.open_flow("desk-account", account_id)

    def open_number(self, number: str) -> None:
        """Jump to a customer by number (palette, F8)."""
        screen: Any = self
        screen.run_service(backoffice.find_number, screen.app.backend, screen.app.session_token,
                           number, on_success=self.open_customer, on_error=self.desk_failed)

