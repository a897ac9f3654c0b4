"""A started `kiosk serve` on loopback, driven over real HTTP and websockets: health,
readiness through a database outage, metrics after a journey, and the hardening of #20
(own terminal id per session, session cap, Origin check, framing, redacted access log,
broken form bodies)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from conftest import TEST_HASHER_PROFILE, _truncate_postgres, make_settings
from sqlalchemy.engine import make_url
from test_failure import CuttableProxy
from test_ops_metrics import COUNTER_NAMES, JOURNEY_SECRETS, journey, samples
from test_serve_browser import Served

from services.backend import Backend
from services.crypto import PasswordHasher
from services.demo import load_demo

TOKEN = "Zq3xY8-secretLinkToken_4711abcdef"
TERMINAL = re.compile(r"web-[0-9a-f]{12}-[0-9a-f]{8}")


def get(url: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def ready(served: Served) -> tuple[int, dict]:
    status, body, headers = get(served.url + "/readyz")
    assert headers["Content-Type"].startswith("application/json")
    return status, json.loads(body)


def wait_ready(served: Served, expected: int, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = ready(served)
        if status == expected:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"/readyz stayed {status} {body}\n{served.log_text()}")
        time.sleep(0.3)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("KIOSK_SERVE_MAX_SESSIONS", "2")
    monkeypatch.setenv("KIOSK_LOG_FORMAT", "json")
    server = Served(tmp_path)
    yield server
    server.stop()


# --------------------------------------------------------------------------- health


@pytest.mark.postgres
def test_readyz_follows_a_database_outage_without_a_restart(postgres_url, tmp_path,
                                                            monkeypatch) -> None:
    url = make_url(postgres_url)
    _truncate_postgres(postgres_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        proxy.cut()  # the database is down when serve starts
        through = url.set(drivername="postgresql", host="127.0.0.1", port=proxy.port)
        monkeypatch.setenv("KIOSK_READY_TIMEOUT", "3")
        served = Served(tmp_path, "--db", through.render_as_string(hide_password=False))
        try:
            assert get(served.url + "/healthz")[0] == 200
            status, body = ready(served)
            assert status == 503 and body["ready"] is False
            assert body["reasons"][0].startswith("database not reachable")
            proxy.restore()
            body = wait_ready(served, 200)
            assert body == {"ready": True, "database": True, "schema": body["head"],
                            "head": body["head"], "secret_key": True, "reasons": []}
            proxy.cut()
            body = wait_ready(served, 503)
            assert "database not reachable" in body["reasons"][0]
            assert get(served.url + "/healthz")[0] == 200  # alive all the time
            _status, payload, _ = get(served.url + "/metrics")
            found = samples(payload)
            assert found[("kiosk_database_up", ())] == 0 and found[("kiosk_ready", ())] == 0
            proxy.restore()
            wait_ready(served, 200)
            found = samples(get(served.url + "/metrics")[1])
            assert found[("kiosk_database_up", ())] == 1
            assert served.process.poll() is None
        finally:
            served.stop()
    finally:
        proxy.close()


def test_metrics_of_a_running_serve_count_the_journey(served, tmp_path) -> None:
    backend = Backend(make_settings(tmp_path / "home"), database_url=served.db,
                      hasher=PasswordHasher(**TEST_HASHER_PROFILE))
    try:
        load_demo(backend)
        status, payload, headers = get(served.url + "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        before = {k: v for k, v in samples(payload).items() if k[0] in COUNTER_NAMES}
        done = journey(backend)
    finally:
        backend.dispose()
    after = {k: v for k, v in samples(get(served.url + "/metrics")[1]).items()
             if k[0] in COUNTER_NAMES}
    moved = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert moved == {k: float(v) for k, v in done.items()}
    found = samples(get(served.url + "/metrics")[1])
    assert found[("kiosk_ready", ())] == 1 and found[("kiosk_serve_sessions", ())] == 0
    assert wait_ready(served, 200)["ready"]
    # the JSON access log: one object per line, nothing of the journey in it
    log = served.log_once('"path": "/metrics"')
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("path") == "/metrics" and line["status"] == 200 for line in lines)
    assert not [s for s in JOURNEY_SECRETS if s in log]


# --------------------------------------------------------------------------- hardening


def app_terminals(served: Served, count: int, timeout: float = 20) -> list[str]:
    """KIOSK_TERMINAL_ID of each app process the server started (read from /proc)."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"tui.cli" in args and b"serve" not in args and served._descends(ppid):
                env = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
                found.append(env.get("KIOSK_TERMINAL_ID", ""))
        if len(found) >= count or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.2)


async def open_session(served: Served, http: aiohttp.ClientSession, **headers: str
                       ) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(served.url + "/ws?width=80&height=24&terminal_id=mine",
                                 headers={"Origin": served.url, **headers})


async def test_each_session_its_own_terminal_and_a_cap(served) -> None:
    async with aiohttp.ClientSession() as http:
        first = await open_session(served, http)
        # what a client sends never names its terminal or its address
        second = await open_session(served, http, **{"X-Forwarded-For": "203.0.113.9"})
        terminals = await asyncio.to_thread(app_terminals, served, 2)
        assert len(terminals) == 2 and terminals[0] != terminals[1], terminals
        assert all(TERMINAL.fullmatch(t) for t in terminals), terminals
        assert terminals[0][:16] == terminals[1][:16]  # one source address: one ceiling
        assert "mine" not in "".join(terminals)
        # the cap (2): a polite page for the next browser, the websocket refused
        status, page, headers = await asyncio.to_thread(get, served.url + "/")
        assert status == 503 and headers.get("Retry-After") == "60"
        assert "Alle Plätze dieses Dienstes sind im Moment belegt" in page
        status, page, _ = await asyncio.to_thread(get, served.url + "/?lang=en")
        assert "All places of this service are taken at the moment" in page
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await open_session(served, http)
        assert refused.value.status == 503
        found = samples((await asyncio.to_thread(get, served.url + "/metrics"))[1])
        assert found[("kiosk_serve_sessions", ())] == 2
        assert found[("kiosk_serve_sessions_refused_total", (("reason", "full"),))] == 3
        await first.close()
        deadline = time.monotonic() + 20
        while (await asyncio.to_thread(get, served.url + "/"))[0] != 200:
            assert time.monotonic() < deadline, "the place did not come free"
            await asyncio.sleep(0.3)
        third = await open_session(served, http)
        deadline = time.monotonic() + 20
        while not set(await asyncio.to_thread(app_terminals, served, 2)) - set(terminals):
            assert time.monotonic() < deadline, "no new session"
            await asyncio.sleep(0.3)
        new = set(await asyncio.to_thread(app_terminals, served, 2)) - set(terminals)
        assert len(new) == 1 and TERMINAL.fullmatch(new.pop())  # a new session, a new id
        await second.close()
        await third.close()


async def test_websocket_from_another_origin_is_refused(served) -> None:
    async with aiohttp.ClientSession() as http:
        for origin in ("http://evil.example", "null", served.url + ".evil.example"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(served.url + "/ws", headers={"Origin": origin})
            assert refused.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.url + "/ws")  # aiohttp sends no Origin by itself
        assert refused.value.status == 403
    assert await asyncio.to_thread(app_terminals, served, 1, 2) == []


def test_every_page_forbids_framing(served) -> None:
    for path in ("/", "/healthz", "/metrics", f"/verify/{TOKEN}", "/no-such-page"):
        _status, _body, headers = get(served.url + path)
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY"


def test_link_tokens_are_redacted_in_the_access_log(served) -> None:
    for path in (f"/verify/{TOKEN}", f"/reset/{TOKEN}?lang=en", f"/org/complete/{TOKEN}",
                 f"/confirm-email/{TOKEN}", f"/org/confirm/{TOKEN}"):
        assert get(served.url + path)[0] in (200, 410)
    request = urllib.request.Request(served.url + f"/reset/{TOKEN}", data=b"csrf=x",
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=10)
    log = served.log_once("/org/confirm/[redacted]")
    assert TOKEN not in log and TOKEN[:12] not in log
    paths = [json.loads(line).get("path") for line in log.splitlines() if line.startswith("{")]
    assert "/reset/[redacted]" in paths and "/verify/[redacted]" in paths
    assert "/org/complete/[redacted]" in paths


def test_broken_multipart_post_is_400_not_500(served) -> None:
    bodies = [b"garbage", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nabc",
              b"--xyz\r\n\r\n--xyz--"]
    for body in bodies:
        request = urllib.request.Request(
            served.url + f"/verify/{TOKEN}", data=body, method="POST",
            headers={"Content-Type": "multipart/form-data; boundary=xyz"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == 400
        assert "Dieser Link ist ungültig" in answer.value.read().decode()
    log = served.log_text()
    assert "Traceback" not in log and '"level": "error"' not in log


def test_kiosk_metrics_serves_the_installation_without_serve(tmp_path) -> None:
    """`kiosk metrics --port P` (tty-only installations): the same endpoints, the same
    figures from the database."""
    import os
    import signal
    import subprocess
    import sys

    from test_serve_browser import REPO, _free_port, _kiosk

    env = {**os.environ, "KIOSK_HOME": str(tmp_path / "home"),
           "KIOSK_DATABASE_URL": f"sqlite:///{tmp_path / 'kiosk.db'}"}
    env.pop("KIOSK_SECRET_KEY", None)
    _kiosk(env, "db", "upgrade")
    backend = Backend(make_settings(tmp_path / "home"), database_url=env["KIOSK_DATABASE_URL"],
                      hasher=PasswordHasher(**TEST_HASHER_PROFILE))
    try:
        load_demo(backend)  # creates the secret key file too
        done = journey(backend)
    finally:
        backend.dispose()
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "tui.cli", "metrics", "--port", str(port)],
                               env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = get(url + "/healthz")[0]
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert status == 200
        status, body, _ = get(url + "/readyz")
        assert status == 200 and json.loads(body)["ready"] is True
        found = samples(get(url + "/metrics")[1])
        for (name, labels), value in done.items():
            assert found[(name, labels)] == value, name
        assert found[("kiosk_ready", ())] == 1
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    assert "serving the installation's metrics" in process.stderr.read().decode()


def test_source_address_and_origin_rules() -> None:
    from unittest.mock import Mock

    from aiohttp.test_utils import make_mocked_request

    from tui.serve import origin_allowed, source_address

    def request(peer: str, forwarded: str | None = None):  # type: ignore[no-untyped-def]
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        transport = Mock()
        transport.get_extra_info.return_value = (peer, 4711)
        return make_mocked_request("GET", "/ws", headers=headers, transport=transport)

    # a client's own X-Forwarded-For counts for nothing
    assert source_address(request("198.51.100.7", "203.0.113.9"), []) == "198.51.100.7"
    # behind a trusted proxy: the hop the proxy added (the last one), not what the client wrote
    assert source_address(request("127.0.0.1", "203.0.113.9, 198.51.100.7"),
                          ["127.0.0.1"]) == "198.51.100.7"
    public = "https://kiosk.example.org"
    assert origin_allowed("https://kiosk.example.org", public, [])
    assert origin_allowed("HTTPS://Kiosk.Example.org/", public, [])
    assert not origin_allowed("http://kiosk.example.org", public, [])
    assert not origin_allowed("https://kiosk.example.org.evil.example", public, [])
    assert not origin_allowed(None, public, []) and not origin_allowed("null", public, [])
    assert origin_allowed("https://portal.example.org", public, ["https://portal.example.org"])
