"""`kiosk serve`: the same app in a browser (textual-serve). Each browser tab runs its own
`kiosk` process on the shared database; kiosk mode applies to every session when asked."""

from __future__ import annotations

import shlex
import sys


def app_command(database_url: str | None = None, kiosk_mode: bool = False,
                language: str | None = None) -> str:
    """The command textual-serve starts for every browser session."""
    parts = [sys.executable, "-m", "tui.cli"]
    if database_url:
        parts += ["--db", database_url]
    if language:
        parts += ["--lang", language]
    if kiosk_mode:
        parts.append("--kiosk")
    return shlex.join(parts)


def serve(host: str = "127.0.0.1", port: int = 8000, public_url: str | None = None,
          database_url: str | None = None, kiosk_mode: bool = False) -> None:
    """Check the database once (clear error before serving), then serve until interrupted."""
    from services.backend import Backend
    from services.config import load_settings

    backend = Backend(load_settings(database_url=database_url))
    backend.ensure_schema()
    backend.dispose()

    from textual_serve.server import Server

    server = Server(
        app_command(database_url, kiosk_mode),
        host=host,
        port=port,
        title="Kundenkiosk",
        public_url=public_url or f"http://{host}:{port}",
    )
    server.serve()
