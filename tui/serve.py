"""`kiosk serve`: the same app in a browser (textual-serve).

textual-serve starts one `kiosk` process per browser session (per websocket) and ends it when
the tab closes, so every session has its own app, its own login, its own idle timer and its
own kiosk mode; all sessions share one database (use PostgreSQL for more than a handful).
The server itself also answers the links in mails (``tui.weblinks``) with its own backend,
and ``/healthz``, ``/readyz`` and ``/metrics`` (``tui.health``).

Hardening (#20 item 4): every session gets its own terminal id ``web-<address>-<session>``,
made here from the connection (a keyed digest of the source address and a random session
part — nothing the browser sends), so one browser's failed logins do not make another wait;
``services.throttle`` counts a session's failures for its source address too (an
installation-wide ceiling). At most ``KIOSK_SERVE_MAX_SESSIONS`` app processes run at once (a
polite page beyond that), the websocket accepts only the public URL's origin (and
``KIOSK_SERVE_ALLOWED_ORIGINS``), and every response forbids framing (CSP
``frame-ancestors``). The access log shows link paths with the token redacted and no client
address; tracebacks never show locals.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from services.backend import Backend

log = logging.getLogger("kundenkiosk.serve")


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


def source_address(request: web.Request, trusted_proxies: list[str]) -> str:
    """The client's address: the peer, or — behind a trusted reverse proxy — the last hop the
    proxy added to ``X-Forwarded-For`` (a client cannot choose it)."""
    peer = request.remote or "?"
    if peer in trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        return forwarded or peer
    return peer


def session_terminal_id(backend: Backend, address: str) -> str:
    """``web-<12 hex of a keyed digest of the address>-<8 random hex>``: one per connection.

    The digest keeps client addresses out of the database and the audit log while all
    sessions from one address share their first part (``services.throttle`` counts it)."""
    import secrets

    return f"web-{backend.digester.digest('serve-address', address)[:12]}-" \
           f"{secrets.token_hex(4)}"


def origin_allowed(origin: str | None, public_url: str, extra: list[str]) -> bool:
    """Only pages of this server (its public URL's origin, or a configured one) may connect."""
    from urllib.parse import urlsplit

    if not origin:
        return False
    parts = urlsplit(public_url)
    own = f"{parts.scheme}://{parts.netloc}".lower()
    return origin.rstrip("/").lower() in {own, *(o.rstrip("/").lower() for o in extra)}


def kiosk_server(options: ServeOptions, backend: Backend) -> Any:
    """textual-serve's server with the mail-link pages (``tui.weblinks``), the health and
    metrics endpoints (``tui.health``) and the hardening of the module docstring."""
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    from services.metrics import Exporter
    from tui.health import HealthRoutes, request_ids
    from tui.weblinks import LinkPages, error_pages, full_page

    settings = backend.settings
    exporter = Exporter(backend)
    sessions_gauge, refused = _serve_metrics(exporter)

    class SessionService(AppService):  # type: ignore[misc]
        """One app process; its environment names the session's own terminal."""

        def __init__(self, *args: Any, terminal_id: str, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.terminal_id = terminal_id

        def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
            environment: dict[str, str] = super()._build_environment(width, height)
            environment["KIOSK_TERMINAL_ID"] = self.terminal_id
            return environment

    @web.middleware
    async def no_framing(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:  # 404 and friends carry the header too
            _forbid_framing(exc.headers)
            raise
        _forbid_framing(response.headers)
        return response

    def _forbid_framing(headers: Any) -> None:
        headers.setdefault("Content-Security-Policy",
                           f"frame-ancestors {settings.serve_frame_ancestors}")
        headers.setdefault("X-Frame-Options", "DENY")

    class KioskServer(Server):  # type: ignore[misc]
        """The served application plus the routes of the links in mails."""

        active = 0

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(request_ids)
            app.middlewares.append(no_framing)
            app.middlewares.append(error_pages)
            app.add_routes(LinkPages(backend).routes())
            app.add_routes(HealthRoutes(exporter, settings.ready_timeout).routes())
            return app

        async def web_app(self) -> web.Application:
            """The aiohttp application (tests run it in-process)."""
            return await self._make_app()

        def initialize_logging(self) -> None:
            """Our handler (text or JSON, tokens redacted), never tracebacks with locals."""
            from services.logs import configure

            configure(settings.log_format, settings.log_file, terminal_id=settings.terminal_id)

        async def on_startup(self, app: web.Application) -> None:
            """One log line instead of textual-serve's banner on stdout."""
            log.info("serving %s on %s (at most %d sessions)", "Kundenkiosk", self.public_url,
                     settings.serve_max_sessions)

        def full(self) -> bool:
            return self.active >= settings.serve_max_sessions

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            if self.full():
                refused.labels("full").inc()
                return full_page(request)
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
            if not origin_allowed(request.headers.get("Origin"), self.public_url,
                                  settings.serve_allowed_origins):
                refused.labels("origin").inc()
                return web.Response(status=403, text="origin not allowed")
            if self.full():
                refused.labels("full").inc()
                return full_page(request)
            terminal = session_terminal_id(
                backend, source_address(request, settings.serve_trusted_proxies))
            self.active += 1
            sessions_gauge.inc()
            try:
                return await self._run_session(request, terminal)
            finally:
                self.active -= 1
                sessions_gauge.dec()

        async def _run_session(self, request: web.Request, terminal: str
                               ) -> web.StreamResponse:
            """textual-serve's ``handle_websocket`` with the session's own terminal id."""
            import asyncio

            from textual_serve.server import to_int

            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            service: SessionService | None = None
            try:
                await websocket.prepare(request)
                service = SessionService(
                    self.command, write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str, close=websocket.close,
                    download_manager=self.download_manager, debug=self.debug,
                    terminal_id=terminal)
                await service.start(width, height)
                try:
                    await self._process_messages(websocket, service)
                finally:
                    await service.stop()
            except asyncio.CancelledError:
                await websocket.close()
            except Exception:
                log.exception("browser session failed")
            finally:
                if service is not None:
                    await service.stop()
            return websocket

        def serve(self, debug: bool = False) -> None:
            """textual-serve's ``serve`` with the redacting access log."""
            import asyncio
            import signal

            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.add_signal_handler(signal.SIGINT, self.request_exit)
                loop.add_signal_handler(signal.SIGTERM, self.request_exit)
            except NotImplementedError:
                pass
            web.run_app(self._make_app(), host=self.host, port=self.port,
                        handle_signals=False, loop=loop, print=lambda *args: None,
                        access_log_class=_access_log_class())

    return KioskServer(
        app_command(options),
        host=options.host,
        port=options.port,
        title="Kundenkiosk",
        public_url=options.resolved_public_url,
    )


def _serve_metrics(exporter: Any) -> tuple[Any, Any]:
    from prometheus_client import Counter, Gauge

    sessions = Gauge("kiosk_serve_sessions", "Browser sessions (app processes) of this server.",
                     registry=exporter.registry)
    refused = Counter("kiosk_serve_sessions_refused", "Browser sessions refused, by reason.",
                      ["reason"], registry=exporter.registry)
    for reason in ("full", "origin"):
        refused.labels(reason)
    return sessions, refused


def _access_log_class() -> Any:
    from aiohttp.abc import AbstractAccessLogger

    from services.logs import redact

    class AccessLog(AbstractAccessLogger):
        """One line per request: method, path (link tokens redacted), status, duration."""

        def log(self, request: Any, response: Any, time: float) -> None:
            path = redact(request.path)
            self.logger.info("%s %s %s", request.method, path, response.status, extra={
                "method": request.method, "path": path, "status": response.status,
                "duration_ms": round(time * 1000, 2),
                "request_id": request.get("request_id")})

    return AccessLog


def serve(options: ServeOptions) -> None:
    """Serve until interrupted. The database may be down at the start: ``/readyz`` says 503
    until it answers (a schema left behind then needs `kiosk db upgrade`)."""
    from services.backend import Backend
    from services.config import load_settings
    from services.errors import StorageUnavailable

    backend = Backend(load_settings(database_url=options.database_url))
    try:
        backend.ensure_schema()
    except StorageUnavailable:
        print("kiosk: the database cannot be reached yet; serving, /readyz answers 503 until "
              "it can.", file=sys.stderr, flush=True)
    backend.digester  # noqa: B018 - create the secret key once, not racing in N sessions

    # Links in mails written by the sessions point at this server unless configured.
    os.environ.setdefault("KIOSK_PUBLIC_URL", options.resolved_public_url)
    try:
        kiosk_server(options, backend).serve()
    finally:
        backend.dispose()
