"""Command palette: customer actions only in kiosk mode; "Quit" outside it.

Commands depend on the mode and the current screen: a screen may add its own commands by
defining ``palette_commands() -> list[tuple[str, Callable[[], object], str]]`` (title msgid,
callback, help msgid).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from services.errors import N_

if TYPE_CHECKING:
    from textual.screen import Screen

Command = tuple[str, Callable[[], object], str]


class KioskLike(Protocol):
    """What the palette needs of ``tui.app.KioskApp`` (which imports this module)."""

    kiosk_mode: bool

    @property
    def screen(self) -> Screen[Any]: ...
    def _(self, message: str, **params: object) -> str: ...
    def open_flow(self, name: str, *args: Any, switch: bool = False, **kwargs: Any) -> Any: ...
    def action_help(self) -> None: ...
    def action_switch_language(self) -> None: ...
    def action_toggle_contrast(self) -> None: ...
    def action_quit_app(self) -> None: ...


def kiosk_commands(app: KioskLike, screen: Screen[Any] | None = None) -> list[Command]:
    """(translated title, callback, translated help) for the current mode and ``screen``
    (the screen the palette was opened on; by default the app's current screen)."""
    _ = app._
    commands: list[Command] = []
    screen = screen or app.screen
    if getattr(screen, "HELP_ARTICLE", None) == "welcome" and screen.id != "help":
        for flow, title, help_text in (
            ("login", N_("Log in"), N_("Log in with your user name and password")),
            ("register", N_("Create an account"), N_("Register as a new customer")),
            ("org-register", N_("No user yet? Register for your company"),
             N_("Join your company's customer account")),
        ):
            commands.append((_(title), lambda flow=flow: app.open_flow(flow), _(help_text)))
    extra = getattr(screen, "palette_commands", None)
    if callable(extra):
        for title, callback, help_text in extra():
            commands.append((_(title), callback, _(help_text)))
    commands += [
        (_("Help"), app.action_help, _("Show the help article for this screen")),
        (_("Switch language"), app.action_switch_language, _("Deutsch / English")),
        (_("Switch contrast"), app.action_toggle_contrast,
         _("Switch between the normal and the high-contrast theme")),
    ]
    if not app.kiosk_mode:
        commands.append((_("Quit"), app.action_quit_app, _("Quit the application")))
    return commands


class KioskCommands(Provider):
    def _commands(self) -> list[Command]:
        # self.screen: the screen below the palette (app.screen is the palette itself)
        return kiosk_commands(self.app, self.screen)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
