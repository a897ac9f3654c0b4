"""The second factor at the desk (#15): an agent's own new recovery codes, and a
supervisor's reset of an agent's second factor (``services.second_factor``)."""

from __future__ import annotations

from screens.backoffice.dialogs import ConfirmDialog, InputDialog
from screens.dialogs import with_recent_auth
from screens.totp import RecoveryCodesScreen, notify_error
from screens.widgets import KioskScreen
from services import second_factor
from services.errors import N_

MSG_RESET_TITLE = N_("Reset an agent's second factor")
MSG_RESET_QUESTION = N_("Reset the second factor of {name}? Their sessions end and they set "
                        "it up again at their next login. This is recorded in the audit log.")


def desk_recovery_flow(screen: KioskScreen) -> None:
    """An agent's own new recovery codes at the desk (the password if older than 5 minutes);
    the old ones stop working."""
    app = screen.app

    def show(result: second_factor.RecoveryCodes) -> None:
        app.push_screen(RecoveryCodesScreen(result.recovery_codes, app.pop_screen))

    with_recent_auth(screen, lambda: screen.run_service(
        second_factor.new_recovery_codes, app.backend, app.session_token, app.caller,
        on_success=show, on_error=notify_error(screen)))


def desk_reset_flow(screen: KioskScreen) -> None:
    """Supervisors at the desk: the agent's name, "really?", the password if it is older
    than 5 minutes, then ``second_factor.reset_for_agent``."""
    app = screen.app

    def reset(name: str) -> None:
        screen.run_service(
            second_factor.reset_for_agent, app.backend, app.session_token, name, app.caller,
            on_success=lambda result: app.notify(screen._(result.message, **result.params),
                                                 markup=False),
            on_error=notify_error(screen))

    def confirmed(name: str, yes: bool | None) -> None:
        if yes:
            with_recent_auth(screen, lambda: reset(name))

    def named(name: str | None) -> None:
        if name:
            app.push_screen(ConfirmDialog(MSG_RESET_QUESTION, {"name": name},
                                          confirm=N_("Reset")),
                            lambda yes: confirmed(name, yes))

    app.push_screen(InputDialog(MSG_RESET_TITLE, N_("User name"), "reset2fa-name"), named)
