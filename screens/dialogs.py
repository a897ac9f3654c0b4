"""Dialogs shared by several flows: the password re-entry before a sensitive action
(``#reauth-password``, ``with_recent_auth``) and unlinking a customer number after the
password (settings and "Zugeordnete Kundennummern")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from screens.widgets import KioskScreen, PasswordDialog, show_domain_error
from services import customer_numbers, sessions
from services.errors import N_, DomainError


class ReauthDialog(PasswordDialog):
    """Re-enter the password before a sensitive action; dismisses with True when confirmed."""

    PREFIX = "reauth"
    INTRO = N_("Please enter your password again to continue.")
    CANCELLED = False

    def call(self, password: str) -> None:
        self.run_service(sessions.reauthenticate, self.app.backend, self.app.session_token,
                         password, on_success=lambda _info: self.dismiss(True),
                         on_error=self.failed)


def with_recent_auth(screen: KioskScreen, then: Callable[[], Any], *,
                     check: Callable[..., Any] = sessions.require_recent_auth,
                     dialog: Callable[[], PasswordDialog] = ReauthDialog,
                     cancelled: Callable[[], Any] | None = None) -> None:
    """Run ``then`` at once when the password was entered in the last 5 minutes; otherwise
    ask for it first (``dialog``; ``cancelled`` runs when it is cancelled). Linking and
    merging screens call this; the merge wizard passes its own ``check`` and ``dialog``, which
    also serve sessions opened with a customer number."""

    def proceed(confirmed: bool | None) -> None:
        if confirmed:
            then()
        elif cancelled is not None:
            cancelled()

    def need(error: DomainError) -> None:
        if isinstance(error, sessions.ReauthRequired):
            screen.app.push_screen(dialog(), proceed)
        elif isinstance(error, sessions.SessionExpired):
            screen.app.session_expired(error)
        else:
            show_domain_error(screen, error)

    screen.run_service(check, screen.app.backend, screen.app.session_token,
                       on_success=lambda _info: then(), on_error=need)


class UnlinkDialog(PasswordDialog):
    """Unlink one number after the password; dismisses with the number or None."""

    PREFIX = "unlink"
    INTRO = N_("Remove the customer number {number} from your account? "
               "Please enter your password.")
    SUBMIT = N_("Unlink")
    SUBMIT_VARIANT = "error"

    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number
        self.intro_params = {"number": number}

    def call(self, password: str) -> None:
        self.run_service(customer_numbers.unlink_customer_number, self.app.backend,
                         self.app.session_token, self.number, password, self.app.caller,
                         on_success=self.dismiss, on_error=self.failed)
