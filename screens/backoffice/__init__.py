"""Service-desk back office (#9): agent login, search, customer view, queues, actions and
dashboard. Opened by the flow name ``"agent-login"`` (``tui/flows.py``) from the welcome
screen's hidden "Service-Desk" key (ctrl+b), which kiosk mode neither shows nor accepts."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen


def agent_login_flow() -> Screen[Any]:
    from screens.backoffice.login import AgentLoginScreen

    return AgentLoginScreen()
