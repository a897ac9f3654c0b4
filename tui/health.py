"""``/healthz``, ``/readyz`` and ``/metrics`` over HTTP, for ``kiosk serve`` and ``kiosk metrics``.

``/healthz`` answers 200 while the process runs (liveness: nothing else is checked).
``/readyz`` answers 200 when the database answers within ``KIOSK_READY_TIMEOUT`` seconds, the
schema is at head and the secret key is present; else 503 with ``{"ready": false,
"reasons": [...]}``. It never needs a restart: every request checks again.
``/metrics`` is the Prometheus text format of ``services.metrics.Exporter``: installation-wide
figures from the database plus this process's own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from services.metrics import Exporter

NO_CACHE = {"Cache-Control": "no-store"}


@web.middleware
async def request_ids(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every request gets an id: in its log lines (those of its flows too) and its answer."""
    from services.logs import new_request_id, request_id

    rid = request["request_id"] = new_request_id()
    token = request_id.set(rid)
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        request_id.reset(token)
    response.headers["X-Request-Id"] = rid
    return response


class HealthRoutes:
    def __init__(self, exporter: Exporter, timeout: float) -> None:
        self.exporter = exporter
        self.timeout = timeout

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz),
                web.get("/metrics", self.metrics)]

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True}, headers=NO_CACHE)

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            state = await asyncio.wait_for(asyncio.to_thread(self.exporter.readiness),
                                           self.timeout)
            body = state.as_json()
        except TimeoutError:
            body = {"ready": False, "reasons": [
                f"database did not answer within {self.timeout:g} s"]}
        return web.Response(text=json.dumps(body), status=200 if body["ready"] else 503,
                            content_type="application/json", headers=NO_CACHE)

    async def metrics(self, request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        payload = await asyncio.to_thread(self.exporter.render)
        return web.Response(body=payload, headers={**NO_CACHE, "Content-Type":
                                                   CONTENT_TYPE_LATEST})


def metrics_app(exporter: Exporter, timeout: float) -> web.Application:
    """The small application of ``kiosk metrics --port P`` (terminals without ``serve``)."""
    app = web.Application(middlewares=[request_ids])
    app.add_routes(HealthRoutes(exporter, timeout).routes())
    return app
