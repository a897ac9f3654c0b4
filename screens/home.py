"""The customer's start page after login: every section opens its flow by name
(``NAV_FLOWS``, ``KioskApp.open_flow``). The password re-entry before sensitive actions
(``#reauth-password``, ``with_recent_auth``) lives in screens/dialogs.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer

from screens.dialogs import ReauthDialog, with_recent_auth
from screens.widgets import KioskScreen, TranslatedButton, TranslatedLabel
from services.errors import N_

#: Navigation button id -> flow name in ``KioskApp.FLOWS`` (later flows plug in there).
NAV_FLOWS = {
    "nav-profile": "profile",
    "nav-customer-numbers": "customer-numbers",
    "nav-contracts": "contracts",
    "nav-products": "products",
    "nav-organisation": "organisation",
    "nav-merge": "merge",
    "nav-settings": "settings",
}
SESSION_CHECK_SECONDS = 30


#: (navigation button id, label msgid, palette help msgid), in the order shown.
NAV_ENTRIES = (
    ("nav-profile", N_("My customer data"),
     N_("Name, address, phone numbers, delivery and payment")),
    ("nav-customer-numbers", N_("Linked customer numbers"),
     N_("Link a customer number with the activation code")),
    ("nav-contracts", N_("Contracts and subscriptions"),
     N_("Link a contract, download the subscription overview")),
    ("nav-products", N_("My products"), N_("Redeem a licence key, use your products")),
    ("nav-organisation", N_("My organisation"), N_("Approve requests, manage members")),
    ("nav-merge", N_("Merge customer numbers"), N_("Merge two of your customer numbers")),
    ("nav-settings", N_("My settings (password, e-mail)"),
     N_("Password, e-mail address, release notes, connected profiles")),
)


class HomeScreen(KioskScreen):
    HELP_ARTICLE = "home"
    CSS_PATH = "forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the scroll container around the buttons has down/up bindings of its own
        # (scrolling), which would win over the screen's when the page is taller than the view
        Binding("down", "app.focus_next", show=False, priority=True),
        Binding("up", "app.focus_previous", show=False, priority=True),
        Binding("f10", "logout", N_("Log out"), id="logout"),
    ]

    def __init__(self, display_name: str) -> None:
        super().__init__()
        self.display_name = display_name

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-body"), Vertical(classes="form-box"):
            yield TranslatedLabel(N_("Hello {name}!"), {"name": self.display_name},
                                  classes="form-title", id="home-greeting")
            yield TranslatedLabel(N_("What would you like to do?"), classes="form-intro")
            for button_id, label, _help in NAV_ENTRIES:
                yield TranslatedButton(label, id=button_id, classes="nav-button")
            yield TranslatedButton(N_("Log out (F10)"), id="nav-logout", classes="nav-button",
                                   variant="warning")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#nav-profile").focus()
        self.set_interval(SESSION_CHECK_SECONDS, self.app.check_session)

    @on(TranslatedButton.Pressed, ".nav-button")
    def _navigate(self, event: TranslatedButton.Pressed) -> None:
        if event.button.id == "nav-logout":
            self.action_logout()
            return
        self.open_entry(event.button.id or "")

    def open_entry(self, button_id: str) -> None:
        flow = NAV_FLOWS.get(button_id)
        if flow:
            self.app.open_flow(flow)

    def palette_commands(self) -> list[tuple[str, Callable[[], object], str]]:
        """Every section of the start page in the command palette (Ctrl+P)."""
        return [(label, lambda button_id=button_id: self.open_entry(button_id), help_text)
                for button_id, label, help_text in NAV_ENTRIES]

    def action_logout(self) -> None:
        self.app.logout()


__all__ = ["NAV_ENTRIES", "NAV_FLOWS", "HomeScreen", "ReauthDialog", "with_recent_auth"]
