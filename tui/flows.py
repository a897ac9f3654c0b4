"""The flows the app can open by name (``KioskApp.FLOWS``) and the session plumbing.

Screens are imported lazily, so the start-up cost stays with the welcome screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from services.errors import N_, DomainError

log = logging.getLogger("kundenkiosk.session")

MSG_SESSION_ENDED = N_("Your session has ended. Please log in again.")
MSG_LOGGED_OUT = N_("You have been logged out. Goodbye!")


def _login(*args: Any, **kwargs: Any) -> Screen[Any]:
    from screens.login import LoginScreen

    return LoginScreen(*args, **kwargs)


def _register() -> Screen[Any]:
    from screens.register import RegisterScreen

    return RegisterScreen()


def _verify(*args: Any, **kwargs: Any) -> Screen[Any]:
    from screens.register import VerifyScreen

    return VerifyScreen(*args, **kwargs)


def _home(display_name: str) -> Screen[Any]:
    from screens.home import HomeScreen

    return HomeScreen(display_name)


def _settings() -> Screen[Any]:
    from screens.settings import SettingsScreen

    return SettingsScreen()


def _products() -> Screen[Any]:
    from screens.products import ProductsScreen

    return ProductsScreen()


def _customer_numbers() -> Screen[Any]:
    from screens.customer_numbers import customer_numbers_flow

    return customer_numbers_flow()


def _profile() -> Screen[Any]:
    from screens.profile import profile_flow

    return profile_flow()


def _contracts() -> Screen[Any]:
    from screens.contracts import contracts_flow

    return contracts_flow()


def _contract_customer(contract_number: str) -> Screen[Any]:
    from screens.contract_customer import CustomerDataScreen

    return CustomerDataScreen(contract_number)


def _org_register() -> Screen[Any]:
    from screens.organisation import org_register_flow

    return org_register_flow()


def _organisation() -> Screen[Any]:
    from screens.org_admin import organisation_flow

    return organisation_flow()


def _merge(*, customer_login: bool = False) -> Screen[Any]:
    from screens.merge import merge_flow

    return merge_flow(customer_login=customer_login)


def _agent_login() -> Screen[Any]:
    from screens.backoffice import agent_login_flow

    return agent_login_flow()


def _desk_customer(customer_id: int, contract: str | None = None) -> Screen[Any]:
    from screens.backoffice.customer import CustomerScreen

    return CustomerScreen(customer_id, contract)


def _desk_account(account_id: int) -> Screen[Any]:
    from screens.backoffice.customer import AccountScreen

    return AccountScreen(account_id)


#: name -> screen factory; ``KioskApp.open_flow(name, *args, switch=False, **kwargs)`` hands
#: ``args`` and ``kwargs`` to the factory. Screens leave for another flow only through this
#: table (or by dismissing with a result), never by importing another flow's screen.
FLOWS: dict[str, Callable[..., Screen[Any]]] = {
    "login": _login,
    "register": _register,
    "verify": _verify,
    "home": _home,
    "settings": _settings,
    "products": _products,
    "customer-numbers": _customer_numbers,
    "profile": _profile,
    "contracts": _contracts,
    "contract-customer": _contract_customer,
    "org-register": _org_register,
    "organisation": _organisation,
    "merge": _merge,
    "agent-login": _agent_login,
    "desk-customer": _desk_customer,
    "desk-account": _desk_account,
}


HOUSEKEEPING_SECONDS = 60.0


def warm_up() -> None:
    """Import the account screens and build the country list in the background, so the first
    registration opens at once (keys typed right after Enter are not lost)."""
    from screens import home, login  # noqa: F401
    from screens.labels import country_options

    for language in ("de", "en"):
        country_options(language)


class SessionMixin:
    """App methods around the server-side session (mixed into ``KioskApp``)."""

    def start_housekeeping(self) -> None:
        """Remove stale unconfirmed registrations now and then; deliver mails when
        ``KIOSK_SMTP_URL`` is set (a single kiosk needs no separate delivery worker)."""
        self.set_interval(HOUSEKEEPING_SECONDS, self._housekeeping, name="housekeeping")  # type: ignore[attr-defined]
        self.call_later(self._housekeeping)  # type: ignore[attr-defined]
        self.run_worker(warm_up, thread=True, exit_on_error=False, group="warm-up")  # type: ignore[attr-defined]

    def _housekeeping(self) -> None:
        def run() -> None:
            from db.errors import DatabaseConfigError
            from services import housekeeping

            try:
                backend = self.backend  # type: ignore[attr-defined] - opened in this thread
            except (DomainError, DatabaseConfigError):
                return  # the app's own connect step tells the user and exits
            try:
                housekeeping.run(backend)
            except DomainError:
                log.warning("housekeeping skipped: the database is not available")
            except Exception:  # noqa: BLE001 - never disturb the customer for it
                log.exception("housekeeping failed")

        self.run_worker(run, thread=True, exit_on_error=False, group="housekeeping")  # type: ignore[attr-defined]

    session_token: str | None

    def end_server_session(self, token: str) -> None:
        """End the session on the server (logout, idle wipe) in a thread worker."""
        from services import accounts

        backend = self.backend  # type: ignore[attr-defined]

        def run() -> None:
            try:
                accounts.logout(backend, token)
            except DomainError:
                log.warning("ending the session failed; it expires on the server by itself")

        self.run_worker(run, thread=True, exit_on_error=False, group="session")  # type: ignore[attr-defined]

    def logout(self) -> None:
        """Log out: end the session on the server and wipe every screen and input."""
        self.notify(self._(MSG_LOGGED_OUT), markup=False)  # type: ignore[attr-defined]
        self.run_worker(self.wipe(), exclusive=True, group="wipe")  # type: ignore[attr-defined]

    def action_logout(self) -> None:
        """F10 on every screen of a logged-in customer (bindings "app.logout")."""
        if self.session_token is not None:
            self.logout()

    def session_expired(self, error: DomainError | None = None) -> None:
        async def wipe_and_tell() -> None:
            await self.wipe()  # type: ignore[attr-defined]
            self.notify(self._(MSG_SESSION_ENDED), severity="warning", timeout=10,  # type: ignore[attr-defined]
                        markup=False)

        self.run_worker(wipe_and_tell(), exclusive=True, group="wipe")  # type: ignore[attr-defined]

    def check_session(self) -> None:
        """Ask the server whether the session still lives (idle and absolute timeouts)."""
        token = self.session_token
        if token is None:
            return
        from services import sessions

        backend = self.backend  # type: ignore[attr-defined]

        def run() -> None:
            try:
                sessions.current(backend, token)
            except sessions.SessionExpired as exc:
                self.call_from_thread(self._expired_if_current, token, exc)  # type: ignore[attr-defined]
            except DomainError:
                log.warning("session check failed")

        self.run_worker(run, thread=True, exit_on_error=False, group="session")  # type: ignore[attr-defined]

    def _expired_if_current(self, token: str, error: DomainError) -> None:
        if self.session_token == token:
            self.session_expired(error)
