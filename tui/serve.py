"""`kiosk serve`: the same app in a browser (textual-serve).

textual-serve starts one `kiosk` process per browser session (per websocket) and ends it when
the tab closes, so every session has its own app, its own login, its own idle timer and its
own kiosk mode; all sessions share one database (use PostgreSQL for more than a handful).
The server itself also answers the links in mails (``tui.weblinks``) with its own backend.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from services.backend import Backend


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


def kiosk_server(options: ServeOptions, backend: Backend) -> Any:
    """textual-serve's server with the mail-link pages (``tui.weblinks``) added."""
    from textual_serve.server import Server

    from tui.weblinks import LinkPages, error_pages

    class KioskServer(Server):  # type: ignore[misc]
        """The served application plus the routes of the links in mails."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(error_pages)
            app.add_routes(LinkPages(backend).routes())
            return app

        async def web_app(self) -> web.Application:
            """The aiohttp application (tests run it in-process)."""
            return await self._make_app()

    return KioskServer(
        app_command(options),
        host=options.host,
        port=options.port,
        title="Kundenkiosk",
        public_url=options.resolved_public_url,
    )


def serve(options: ServeOptions) -> None:
    """Check the database once (clear error before serving), then serve until interrupted."""
    from services.backend import Backend
    from services.config import load_settings

    backend = Backend(load_settings(database_url=options.database_url))
    backend.ensure_schema()
    backend.digester  # noqa: B018 - create the secret key once, not racing in N sessions

    # Links in mails written by the sessions point at this server unless configured.
    os.environ.setdefault("KIOSK_PUBLIC_URL", options.resolved_public_url)
    try:
        kiosk_server(options, backend).serve()
    finally:
        backend.dispose()
