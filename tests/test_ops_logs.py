"""Structured logs (#17): ``KIOSK_LOG_FORMAT=json`` gives one JSON object per line with time,
level, event, terminal id, request id and duration; no password, code, key, token or e-mail
address of the test data ever appears in a line — whatever format, whatever error."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_ops_metrics import JOURNEY_SECRETS, journey

from services import accounts, mail
from services.caller import Caller
from services.demo import SHOW_TEXT, load_demo
from services.logs import REDACTED, configure, flush, redact, stop
from tui.weblinks import error_pages

REPO = Path(__file__).resolve().parent.parent
CALLER = Caller(terminal_id="kiosk-json", language="de")


@pytest.fixture
def json_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "kiosk.jsonl"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure("json", path, terminal_id="kiosk-json")
    yield path
    stop()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def lines_of(path: Path) -> list[dict]:
    flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def outbox_secrets(backend) -> list[str]:
    """Every code, link, token and address the mails carried."""
    found = []
    with backend.transaction() as db:
        for m in mail.outbox(db):
            found.append(m.to)
            for value in m.params.values():
                if isinstance(value, str) and len(value) >= 6:
                    found.append(value)
                    if value.startswith("http"):
                        found.append(urlsplit(value).path.rsplit("/", 1)[-1])
    return found


def test_flows_with_json_logs_leak_nothing(backend, json_log) -> None:
    load_demo(backend)
    journey(backend)
    accounts.request_password_reset(backend, "lfuchs", CALLER)
    with backend.transaction() as db:
        link = [m for m in mail.outbox(db) if m.template == "password_reset"][-1].params["link"]
    token = urlsplit(link).path.rsplit("/", 1)[-1]
    accounts.reset_password_link(backend, token, "Neues Passwort für den Fluss 2027", CALLER)
    logging.getLogger("aiohttp.access").info("POST /reset/%s 200", token)
    lines = lines_of(json_log)
    assert lines, "no log lines"
    for line in lines:
        assert {"time", "level", "event", "terminal_id", "request_id"} <= set(line)
    audit_lines = [line for line in lines if line["logger"] == "kundenkiosk.audit"]
    events = [(line["event"], line["outcome"]) for line in audit_lines]
    assert ("login", "failed") in events and ("login", "ok") in events
    assert ("customer_linked", "ok") in events and ("licence_redeemed", "ok") in events
    assert ("password_reset", "ok") in events
    assert all(line["terminal_id"] == "kiosk-7" for line in audit_lines
               if line["event"] == "licence_redeemed")
    assert all(isinstance(line["duration_ms"], float) and line["request_id"]
               for line in audit_lines)
    flush()
    text = json_log.read_text()
    leaked = [s for s in [*JOURNEY_SECRETS, *outbox_secrets(backend), token,
                          "Neues Passwort für den Fluss 2027"] if s in text]
    assert leaked == []
    assert f"/reset/{REDACTED}" in text


def test_a_rolled_back_flow_logs_no_audit_line(backend, json_log) -> None:
    from services import audit

    with pytest.raises(RuntimeError), backend.transaction() as db:
        audit.record(db, "login", terminal_id="kiosk-json")
        db.flush()
        raise RuntimeError("rolled back")
    with backend.transaction() as db:
        audit.record(db, "login", outcome="failed", terminal_id="kiosk-json")
    events = [(line["event"], line["outcome"]) for line in lines_of(json_log)
              if line["logger"] == "kundenkiosk.audit"]
    assert events == [("login", "failed")]


async def test_an_error_is_logged_without_message_or_locals(json_log) -> None:
    """A crash while answering a link: the log names the exception and where, nothing else
    (its message and the handler's locals hold the token and what was typed)."""
    token = "Ab3dE6gH9jK2mN5pQ8rS1tV4wX7yZ0"

    async def broken(request: web.Request) -> web.Response:
        password = "mein geheimes Passwort 99"  # noqa: F841 - a local a traceback could show
        raise RuntimeError(f"failed for {token} with mia.sommer@example.org")

    app = web.Application(middlewares=[error_pages])
    app.router.add_get("/verify/{token}", broken)
    async with TestClient(TestServer(app)) as client:
        response = await client.get(f"/verify/{token}")
    assert response.status == 500
    errors = [line for line in lines_of(json_log) if line["level"] == "error"]
    assert errors and errors[0]["error"] == "RuntimeError"
    assert any("broken" in where for where in errors[0]["where"])
    flush()
    text = json_log.read_text()
    assert token not in text and "geheimes" not in text and "mia.sommer" not in text


def test_text_format_hides_exception_messages_too(tmp_path) -> None:
    from services.logs import TextFormatter

    try:
        raise ValueError("the value 'KVG4-MAXJ-7QRT' is wrong")
    except ValueError:
        record = logging.LogRecord("kundenkiosk", logging.ERROR, __file__, 1,
                                   "checking /verify/%s", ("Zq3xY8secretLinkToken4711",),
                                   sys.exc_info())
    from services.logs import RedactFilter

    RedactFilter().filter(record)
    out = TextFormatter().format(record)
    assert "ValueError at" in out and "KVG4" not in out and "secretLink" not in out
    assert "/verify/[redacted]" in out


@pytest.mark.parametrize("path", ["/verify/", "/reset/", "/confirm-email/", "/org/confirm/",
                                  "/org/complete/"])
def test_redact_every_link_path(path: str) -> None:
    assert redact(f"GET {path}AbCdEfGhIjKlMnOpQrStUv?lang=en 200") == \
        f"GET {path}{REDACTED}?lang=en 200"
    assert redact("GET /metrics 200") == "GET /metrics 200"


def test_cli_with_json_logs_leaks_nothing_of_the_demo(tmp_path) -> None:
    """`kiosk demo` and a failing `kiosk import` with JSON logs to a file."""
    log = tmp_path / "cli.jsonl"
    env = {**os.environ, "KIOSK_HOME": str(tmp_path / "home"), "KIOSK_LOG_FORMAT": "json",
           "KIOSK_LOG_FILE": str(log), "KIOSK_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    (tmp_path / "home").mkdir()
    for args in (["db", "upgrade"], ["demo", "--quiet"]):
        done = subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "{" not in done.stderr  # the logs went to the file
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line["event"] == "demo_loaded" for line in lines)
    secrets_ = [word for line in SHOW_TEXT.splitlines() for word in line.split()
                if sum(c.isdigit() for c in word) >= 2 and "-" in word and len(word) >= 12]
    secrets_ += [w for w in SHOW_TEXT.split() if "@" in w]
    assert len(secrets_) > 20
    assert [s for s in secrets_ if s in log.read_text()] == []
