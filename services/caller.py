"""Who asks a service: the terminal, the language for messages and the session."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caller:
    """Who asks: the terminal, the language for messages, and the session (when logged in)."""

    terminal_id: str = "local"
    language: str = "de"
    session_token: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
