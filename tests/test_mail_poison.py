"""Issue 20 item 2 (mail side): no record can stop the mail. Headers are built from one-line
values only; a mail that can never be sent is marked failed with its reason (no secret in it)
and the later mails go out — against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from email.header import decode_header, make_header

from sqlalchemy import select, update
from test_mail import smtp_server  # noqa: F401 - the pytest fixture

from db.models import Customer, OutboxMail
from services import accounts, mail, organisations
from services.caller import Caller
from services.demo import load_demo
from tui.cli import main

EVIL_COMPANY = "Praxis Dr. Köhler GmbH\nBcc: everyone@example.net\r\n\x1b\u2028X"
SECRET = "SECRET-CODE-7391"


def _unfolded(header: str) -> str:
    """A received header as one text: folding (CRLF + space) undone, encoded words decoded."""
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", header))))


def _raw(session, to: str, subject: str, **params) -> None:
    """A row as an older version wrote it (before subjects were made one line)."""
    session.add(OutboxMail(to=to, subject=subject, body="Hallo", template="org_confirm",
                           params={"code": SECRET, **params}, language="de"))


def test_a_company_name_with_line_breaks_gives_one_header_line(backend, smtp_server):  # noqa: F811
    controller, handler = smtp_server
    load_demo(backend)
    with backend.transaction() as db:
        db.execute(update(Customer).where(Customer.number == "300001")
                   .values(company=EVIL_COMPANY))
    # Anyone who knows the number and the postal code can make this mail by registering.
    organisations.submit_registration(backend, {
        "email": "mia.berg@example.de", "customer_number": "300001", "postal_code": "80331",
        "first_name": "Mia", "last_name": "Berg", "privacy": True, "marketing": False,
    }, Caller(terminal_id="kiosk-7"))
    backend.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    sent, failed = mail.deliver_pending(backend)
    assert failed == 0 and sent >= 1
    subjects = [_unfolded(m["Subject"]) for m in handler.messages
                if m["To"] == "mia.berg@example.de"]
    assert subjects and "\n" not in subjects[0] and "\r" not in subjects[0]
    assert "für Praxis Dr. Köhler GmbH Bcc: everyone@example.net X" in subjects[0]
    assert all(m["Bcc"] is None for m in handler.messages)


def test_one_poisoned_mail_never_blocks_the_others(backend, smtp_server, clock):  # noqa: F811
    controller, handler = smtp_server
    with backend.transaction() as db:
        mail.enqueue(db, to="first@example.org", template="support_request_sent",
                     params={"name": "A", "reference": "R-1", "subject": "x"})
        _raw(db, "admin@example.org", "Registrierung für Praxis\nBcc: x@example.net")
        _raw(db, "victim@example.org\nBcc: x@example.net", "Hallo")
        _raw(db, "kein-empfaenger", "Hallo")
    # Someone else's password reset, after the poisoned mails.
    password = "Kirschbaum-Regen-Fluss-88"
    accounts.register(backend, dict(
        type="private", username="later", email="later@example.org", password=password,
        password_confirm=password, salutation="Frau", first_name="Lea", last_name="Later",
        street="Hauptstr. 1", postal_code="34117", city="Kassel", country="DE",
        customer_number=None, terms=True, marketing=False), Caller())
    accounts.request_password_reset(backend, "later@example.org", Caller())
    backend.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"

    sent, failed = mail.deliver_pending(backend)

    to = sorted(m["To"] for m in handler.messages)
    assert to.count("later@example.org") == 2 and "first@example.org" in to
    # The old row's subject is sent as one line; the two bad recipients fail.
    assert failed == 2 and sent == 4 and "admin@example.org" in to
    admin = next(m for m in handler.messages if m["To"] == "admin@example.org")
    assert _unfolded(admin["Subject"]) == "Registrierung für Praxis Bcc: x@example.net"
    assert all(m["Bcc"] is None for m in handler.messages)
    with backend.transaction() as db:
        rows = mail.outbox(db)
        errors = [m.last_error for m in rows if mail.state(m) == "failed"]
    assert sorted(mail.state(m) for m in rows) == ["failed"] * 2 + ["sent"] * 4
    assert all(e and e.startswith(mail.FAILED) and SECRET not in e for e in errors)
    # A failed mail is not tried again, however long one waits.
    clock.advance(days=2)
    assert mail.deliver_pending(backend) == (0, 0)
    assert len(handler.messages) == 4


def test_mail_deliver_says_what_it_did_and_the_loop_survives(backend, smtp_server, capsys,  # noqa: F811
                                                             tmp_path):
    controller, handler = smtp_server
    with backend.transaction() as db:
        _raw(db, "victim@example.org\nBcc: x@example.net", "Hallo")
        mail.enqueue(db, to="good@example.org", template="support_request_sent",
                     params={"name": "A", "reference": "R-1", "subject": "x"})
    url = f"smtp://127.0.0.1:{controller.port}"
    os.environ["KIOSK_SMTP_URL"] = url
    try:
        assert main(["--db", backend.database_url, "mail", "deliver"]) == 1
    finally:
        del os.environ["KIOSK_SMTP_URL"]
    out = capsys.readouterr()
    assert out.out.strip() == "1 sent, 1 to retry" and "Traceback" not in out.err
    assert [m["To"] for m in handler.messages] == ["good@example.org"]
    assert main(["--db", backend.database_url, "outbox"]) == 0
    listing = capsys.readouterr().out
    assert "failed" in listing and "recipient address is not valid" in listing

    # --loop: a poisoned mail written while the worker runs does not end it.
    env = {**os.environ, "KIOSK_SMTP_URL": url, "KIOSK_HOME": str(tmp_path / "loop")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--db", backend.database_url, "mail", "deliver",
         "--loop", "--interval", "0.2"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        with backend.transaction() as db:
            _raw(db, "again@example.org\r\n", "Hallo")
            _raw(db, "admin@example.org", "Praxis\nBcc: x@example.net")
            mail.enqueue(db, to="after@example.org", template="support_request_sent",
                         params={"name": "B", "reference": "R-2", "subject": "y"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(handler.messages) < 3:
            time.sleep(0.1)
        time.sleep(0.5)
        assert worker.poll() is None, worker.stderr.read()
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=10)
    assert sorted(m["To"] for m in handler.messages) == [
        "admin@example.org", "after@example.org", "good@example.org"]
    assert "Traceback" not in err
    with backend.transaction() as db:
        failed = db.scalars(select(OutboxMail.to).where(
            OutboxMail.last_error.startswith(mail.FAILED))).all()
    assert sorted(failed) == ["again@example.org\r\n", "victim@example.org\nBcc: x@example.net"]
