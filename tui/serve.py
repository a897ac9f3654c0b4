"""`kiosk serve`: the same app in a browser (textual-serve).

textual-serve starts one `kiosk` process per browser session (per websocket) and ends it when
the tab closes, so every session has its own app, its own login, its own idle timer and its
own kiosk mode; all sessions share one database (use PostgreSQL for more than a handful).
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class ServeOptions:
    """What `kiosk serve` passes to every browser session and how it listens."""

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    database_url: str | None = None
    kiosk_mode: bool = False
    language: str | None = None
    idle_timeout: int | None = None

    @property
    def resolved_public_url(self) -> str:
        """The address browsers use (behind a reverse proxy: the proxy's https URL)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def app_command(options: ServeOptions) -> str:
    """The shell command textual-serve starts for every browser session."""
    parts = [sys.executable, "-m", "tui.cli"]
    if options.database_url:
        parts += ["--db", options.database_url]
    if options.language:
        parts += ["--lang", options.language]
    if options.kiosk_mode:
        parts.append("--kiosk")
    if options.idle_timeout is not None:
        parts += ["--idle-timeout", str(options.idle_timeout)]
    return shlex.join(parts)


def serve(options: ServeOptions) -> None:
    """Check the database once (clear error before serving), then serve until interrupted."""
    from services.backend import Backend
    from services.config import load_settings

    backend = Backend(load_settings(database_url=options.database_url))
    backend.ensure_schema()
    backend.digester  # noqa: B018 - create the secret key once, not racing in N sessions
    backend.dispose()

    public_url = options.resolved_public_url
    # Links in mails written by the sessions point at this server unless configured.
    os.environ.setdefault("KIOSK_PUBLIC_URL", public_url)

    from textual_serve.server import Server

    server = Server(
        app_command(options),
        host=options.host,
        port=options.port,
        title="Kundenkiosk",
        public_url=public_url,
    )
    server.serve()
