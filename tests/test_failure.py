"""PostgreSQL stops while terminals are in use; the SMTP server is down and comes back.

The shared PostgreSQL server is never stopped here (others use it). The terminals reach it
through a TCP proxy in this test that can be cut: at once (the server is gone: every
connection drops and new ones are refused) or at the moment a terminal sends ``COMMIT`` (the
server dies in the middle of a customer's action). Checked: the customer gets one clear
message and can retry with the same input, nothing half-written remains (looked at directly,
past the proxy), and mail waiting in the outbox is delivered once SMTP answers again.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import TEST_HASHER_PROFILE, _truncate_postgres, make_settings
from pilot import open_screen
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from test_concurrency import (
    CODE,
    NUMBER,
    accounts_with_sessions,
    customer_with_code,
    product_with_key,
)
from test_mail import Collect
from textual.widgets import Input

from db.models import ActivationCode, AuditEvent, CustomerLink, LicenceKey, OutboxMail
from screens.customer_numbers import CustomerNumbersScreen
from services import mail, products
from services.backend import Backend
from services.caller import Caller
from services.crypto import PasswordHasher
from services.customer_numbers import link_customer_number
from services.errors import StorageUnavailable

pytestmark = pytest.mark.postgres

KEY = "OUTA-GE7K-EYAB-CD9X"
CALLER = Caller(terminal_id="kiosk-1")
MESSAGE = "The database cannot be reached or written."


class CuttableProxy:
    """A TCP proxy in threads between the terminals and PostgreSQL."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.cut_at: bytes | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # like a stopped server: the connection ends at once
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.connections += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                if upstream and self.cut_at is not None and self.cut_at in data:
                    self.cut()  # the server goes away before this message reaches it
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def cut(self) -> None:
        """PostgreSQL is gone: every connection drops, new ones are refused."""
        self.up = False
        self.cut_at = None
        with self.lock:
            connections, self.connections = self.connections, []
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut_on(self, marker: bytes) -> None:
        """Go away the moment a terminal sends ``marker`` (e.g. its COMMIT)."""
        self.cut_at = marker

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[CuttableProxy]:
    url = make_url(postgres_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def direct(postgres_url: str, tmp_path: Path) -> Iterator[Backend]:
    """Past the proxy: how the database really looks (and the test data set-up)."""
    _truncate_postgres(postgres_url)
    home = tmp_path / "home"
    home.mkdir()
    backend = Backend(make_settings(home), database_url=postgres_url,
                      hasher=PasswordHasher(**TEST_HASHER_PROFILE))
    backend.digester  # noqa: B018 - the secret key shared by both backends
    yield backend
    backend.dispose()


@pytest.fixture
def terminal(direct: Backend, proxy: CuttableProxy, postgres_url: str) -> Iterator[Backend]:
    """A terminal's backend: the same installation, its database through the proxy."""
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    backend = Backend(direct.settings, database_url=url.render_as_string(hide_password=False),
                      hasher=direct.hasher)
    yield backend
    backend.dispose()


def _link_state(backend: Backend, customer_id: int) -> tuple[int, object, int, int]:
    with backend.transaction() as db:
        links = db.scalar(select(func.count()).select_from(CustomerLink)
                          .where(CustomerLink.customer_id == customer_id))
        used = db.scalar(select(ActivationCode.used_at)
                         .where(ActivationCode.customer_id == customer_id))
        audits = db.scalar(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.event == "customer_linked"))
        mails = db.scalar(select(func.count()).select_from(OutboxMail))
    return links, used, audits, mails


def test_server_dies_at_commit_of_a_link_nothing_half_written_retry_works(
        direct, terminal, proxy) -> None:
    customer_id = customer_with_code(direct)
    (token,) = accounts_with_sessions(direct, 1)
    proxy.cut_on(b"COMMIT")
    with pytest.raises(StorageUnavailable) as failure:
        link_customer_number(terminal, token, CODE, NUMBER, CALLER)
    assert str(failure.value) == MESSAGE
    assert _link_state(direct, customer_id) == (0, None, 0, 0)

    # Still down: the same clear message, not a hang or a traceback.
    with pytest.raises(StorageUnavailable):
        link_customer_number(terminal, token, CODE, NUMBER, CALLER)
    proxy.restore()
    assert link_customer_number(terminal, token, CODE, NUMBER, CALLER).number == NUMBER
    links, used, audits, mails = _link_state(direct, customer_id)
    assert (links, audits, mails) == (1, 1, 1) and used is not None


def test_server_dies_at_commit_of_a_redemption_retry_works(direct, terminal, proxy) -> None:
    product_with_key(direct, "OUT-1", KEY)
    (token,) = accounts_with_sessions(direct, 1)
    proxy.cut_on(b"COMMIT")
    with pytest.raises(StorageUnavailable):
        products.redeem_key(terminal, token, KEY, CALLER)
    with direct.transaction() as db:
        assert db.scalar(select(LicenceKey.redeemed_by_id)) is None
    proxy.restore()
    assert products.redeem_key(terminal, token, KEY, CALLER).sku == "OUT-1"
    with direct.transaction() as db:
        assert db.scalar(select(LicenceKey.redeemed_by_id)) is not None


def test_nothing_listens_at_the_database_address(direct) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    nowhere = Backend(direct.settings, database_url=f"postgresql://kiosk:geheim@127.0.0.1:{port}/x")
    with pytest.raises(StorageUnavailable) as failure:
        nowhere.ensure_schema()
    assert "geheim" not in str(failure.value) and str(port) in str(failure.value)
    with pytest.raises(StorageUnavailable) as failure:
        with nowhere.transaction() as db:
            db.execute(select(1))
    assert str(failure.value) == MESSAGE
    nowhere.dispose()


async def test_customer_sees_one_message_and_retries_with_the_same_input(
        direct, terminal, proxy) -> None:
    from pilot import app_for, settle, text

    customer_with_code(direct)
    (token,) = accounts_with_sessions(direct, 1)
    app = app_for(terminal)
    async with app.run_test(size=(120, 50)) as pilot:
        await open_screen(pilot, CustomerNumbersScreen(), token)
        proxy.cut()
        screen = pilot.app.screen
        screen.query_one("#link-code", Input).value = CODE
        screen.query_one("#link-number", Input).value = NUMBER
        screen.query_one("#link-submit").press()
        await settle(pilot)
        shown = text(app, "#form-error")
        assert shown == "Die Datenbank ist nicht erreichbar oder nicht beschreibbar."
        assert screen.query_one("#link-number", Input).value == NUMBER  # nothing to retype
        assert isinstance(pilot.app.screen, CustomerNumbersScreen)

        proxy.restore()
        if not screen.query_one("#link-code", Input).value:  # a code field may be cleared
            screen.query_one("#link-code", Input).value = CODE
        screen.query_one("#link-submit").press()
        await settle(pilot)
        assert not text(app, "#form-error")
        table = str(pilot.app.screen.query_one("#customer-numbers-table").get_row_at(0))
        assert NUMBER in table


def test_outbox_mail_is_delivered_after_smtp_comes_back(direct, terminal, proxy) -> None:
    customer_with_code(direct)
    (token,) = accounts_with_sessions(direct, 1)
    link_customer_number(terminal, token, CODE, NUMBER, CALLER)  # writes a mail
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        smtp_port = sock.getsockname()[1]
    terminal.settings.smtp_url = f"smtp://127.0.0.1:{smtp_port}"
    assert mail.deliver_pending(terminal) == (0, 1)  # SMTP is down: the mail stays

    # The database goes away too: delivery says so clearly, the mail is not lost.
    proxy.cut()
    with pytest.raises(StorageUnavailable):
        mail.deliver_pending(terminal)
    proxy.restore()

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        terminal.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # retry due
        assert mail.deliver_pending(terminal) == (1, 0)
    finally:
        controller.stop()
    assert [m["To"] for m in handler.messages] == ["racer00@example.org"]
    with direct.transaction() as db:
        assert mail.outbox(db, pending_only=True) == []


def test_mail_worker_outlives_a_database_outage(direct, proxy, postgres_url, tmp_path) -> None:
    import os
    import subprocess
    import sys
    import time

    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    env = dict(os.environ, KIOSK_HOME=str(direct.settings.home),
               KIOSK_SMTP_URL="smtp://127.0.0.1:9", KIOSK_DATABASE_URL=url.render_as_string(
                   hide_password=False))
    kiosk = Path(sys.executable).with_name("kiosk")
    worker = subprocess.Popen([str(kiosk), "mail", "deliver", "--loop", "--interval", "0.2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(worker.stderr), daemon=True)
    reader.start()
    try:
        time.sleep(3)  # started and delivering (nothing to send)
        assert worker.poll() is None, lines
        proxy.cut()
        deadline = time.monotonic() + 20
        while not any("Retrying" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any("cannot be reached" in line and "Retrying" in line for line in lines)
        proxy.restore()
        time.sleep(1)
        assert worker.poll() is None  # still running after the database came back
    finally:
        worker.terminate()
        worker.wait(timeout=10)
