"""What the back-office screens share: calling a desk service with the agent's session,
showing its errors (an ended session goes back to the start), opening customers and
accounts, and the translated queue names."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

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
    backoffice.STALE_ORG: N_("Waiting organisation requests"),
}


#: Subjects other flows store in English on their requests (shown translated).
KNOWN_SUBJECTS = (
    N_("Customer number already assigned to another user"),
    N_("Account already has a customer number of this type"),
)


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

    def open_customer(self, customer_id: int) -> None:
        from screens.backoffice.customer import CustomerScreen

        screen: Any = self
        screen.app.push_screen(CustomerScreen(customer_id))

    def open_account(self, account_id: int) -> None:
        from screens.backoffice.customer import AccountScreen

        screen: Any = self
        screen.app.push_screen(AccountScreen(account_id))

    def open_number(self, number: str) -> None:
        """Jump to a customer by number (palette, F8)."""
        screen: Any = self
        screen.run_service(backoffice.find_number, screen.app.backend, screen.app.session_token,
                           number, on_success=self.open_customer, on_error=self.desk_failed)

