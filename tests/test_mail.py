"""The outbox and SMTP delivery against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import json
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from services import mail
from tui.cli import main


class Collect(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:  # type: ignore[override]
        self.messages.append(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def _enqueue(backend, to="kunde@example.org", language="de", fail=False):
    with backend.transaction() as session:
        mail.enqueue(session, to=to, template="support_request_sent", language=language,
                     params={"name": "Jürgen Größ", "reference": "R-1", "subject": "Test"})
        if fail:
            raise RuntimeError("the change failed")


def test_mail_is_written_only_when_the_transaction_commits(backend):
    with pytest.raises(RuntimeError):
        _enqueue(backend, fail=True)
    _enqueue(backend)
    with backend.transaction() as session:
        mails = mail.outbox(session)
    assert len(mails) == 1
    assert mails[0].subject == "Ihre Anfrage an den Kundenservice (R-1)"
    assert "Jürgen Größ" in mails[0].body


def test_templates_exist_in_both_languages(backend):
    _enqueue(backend, language="en")
    with backend.transaction() as session:
        assert mail.outbox(session)[0].subject.startswith("Your request")


def test_outbox_json_has_the_contract_fields(backend, capsys):
    _enqueue(backend)
    assert main(["--db", backend.database_url, "outbox", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["to"] == "kunde@example.org"
    assert set(data[0]) >= {"to", "subject", "body", "template", "params", "created_at"}
    assert data[0]["params"]["reference"] == "R-1"


def test_delivery_by_smtp_and_retry_after_failure(backend, smtp_server, clock):
    controller, handler = smtp_server
    _enqueue(backend)
    # First the server is unreachable: the mail stays, with a wait before the next try.
    backend.settings.smtp_url = f"smtp://127.0.0.1:{_free_port()}"
    assert mail.deliver_pending(backend) == (0, 1)
    with backend.transaction() as session:
        pending = mail.outbox(session, pending_only=True)
    assert len(pending) == 1 and pending[0].attempts == 1 and pending[0].last_error
    # Not due yet: nothing is tried.
    backend.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    assert mail.deliver_pending(backend) == (0, 0)
    clock.advance(minutes=5)
    assert mail.deliver_pending(backend) == (1, 0)
    assert len(handler.messages) == 1
    received = handler.messages[0]
    assert received["To"] == "kunde@example.org"
    assert "Größ" in received.get_payload(decode=True).decode("utf-8")
    with backend.transaction() as session:
        assert mail.outbox(session, pending_only=True) == []
    # Nothing is sent twice.
    assert mail.deliver_pending(backend) == (0, 0)


def test_attachment_is_delivered(backend, smtp_server):
    controller, handler = smtp_server
    with backend.transaction() as session:
        mail.enqueue(session, to="a@example.org", template="support_request_sent",
                     params={"name": "A", "reference": "R-2", "subject": "PDF"},
                     attachment=("uebersicht.pdf", b"%PDF-1.4 test"))
    backend.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    assert mail.deliver_pending(backend) == (1, 0)
    parts = [p.get_filename() for p in handler.messages[0].walk()]
    assert "uebersicht.pdf" in parts


def test_unknown_template_is_refused(backend):
    with pytest.raises(mail.TemplateMissing), backend.transaction() as session:
        mail.enqueue(session, to="a@example.org", template="nope", params={})


async def test_the_app_delivers_mail_when_smtp_is_configured(sqlite_backend, smtp_server):
    from tui.app import KioskApp

    controller, handler = smtp_server
    _enqueue(sqlite_backend)
    sqlite_backend.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    app = KioskApp(backend=sqlite_backend, idle_timeout=3600, cursor_blink=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
    assert len(handler.messages) == 1
    with sqlite_backend.transaction() as session:
        assert mail.outbox(session, pending_only=True) == []


def test_outbox_without_json_shows_the_parameters(backend, capsys):
    """Issue 19.13: without --json the outbox hid the code a customer would receive."""
    _enqueue(backend)
    assert main(["--db", backend.database_url, "outbox"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "kunde@example.org" in lines[0] and "reference=R-1" in lines[1]
