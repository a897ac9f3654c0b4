"""Issue 20 item 3: a damaged SQLite file (junk over its first bytes) is one sentence and a
non-zero exit everywhere — in the app (never a traceback, never a typed password) and in
every CLI command."""

from __future__ import annotations

import shutil

import pytest

from services.backend import Backend
from services.errors import StorageUnavailable
from tests.conftest import make_settings
from tests.terminal import KIOSK, Terminal, kiosk_env
from tui.cli import main

PASSWORD = "Geheim-Passwort-4711"
SENTENCE_DE = "ist beschädigt oder keine Datenbank"
SENTENCE_EN = "is damaged or is not a database"


@pytest.fixture
def damaged(tmp_path, sqlite_template):
    """A real kiosk database whose first 4 KiB are overwritten with junk."""
    path = tmp_path / "home" / "kiosk.db"
    path.parent.mkdir()
    shutil.copy(sqlite_template, path)
    with path.open("r+b") as handle:
        handle.write(b"\xde\xad\xbe\xef JUNK " * 400)
    return path


def test_backend_calls_a_damaged_file_storage_unavailable(damaged, tmp_path):
    backend = Backend(make_settings(tmp_path / "home"), database_url=f"sqlite:///{damaged}")
    with pytest.raises(StorageUnavailable) as schema:
        backend.ensure_schema()
    assert SENTENCE_EN in str(schema.value) and schema.value.__cause__ is None
    with pytest.raises(StorageUnavailable) as work, backend.transaction() as session:
        session.execute(__import__("sqlalchemy").text("SELECT 1 FROM accounts"))
    assert SENTENCE_EN in str(work.value)
    backend.dispose()


COMMANDS = [
    ["db", "upgrade"], ["db", "status"], ["demo"], ["demo", "--quiet"], ["outbox"],
    ["outbox", "--json"], ["outbox", "--pending"], ["mail", "deliver"],
    ["mail", "deliver", "--loop"], ["agent", "create", "bob", "--password-stdin"], ["import"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_cli_command_says_one_sentence(command, damaged, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KIOSK_HOME", str(damaged.parent))
    monkeypatch.setenv("KIOSK_SMTP_URL", "smtp://127.0.0.1:9")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    if command == ["import"]:
        source = tmp_path / "records.jsonl"
        source.write_text('{"kind": "product", "sku": "S", "name": "N", "type": "licence"}\n')
        command = ["import", str(source)]
    code = main(["--db", f"sqlite:///{damaged}", *command])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("kiosk: ") and SENTENCE_EN in lines[0]
    assert "Traceback" not in captured.err + captured.out and PASSWORD not in captured.err


def test_the_app_on_a_damaged_file_ends_with_one_sentence(damaged):
    """The real `kiosk` on a pty: the customer starts to log in; the app ends with the one
    sentence, exit code 2, no traceback, no locals, no password."""
    term = Terminal([KIOSK], kiosk_env(damaged.parent, TEXTUAL="debug"))
    try:
        term.drain(1.5)
        # Welcome -> login (Enter on the focused login button), identifier, password, Enter.
        for chunk in (b"\r", b"lfuchs", b"\t", PASSWORD.encode(), b"\r"):
            if term.alive():
                term.send(chunk)
            term.drain(0.4)
        status = term.wait_exit(20)
    finally:
        term.close()
    assert status == 2, term.text[-2000:]
    assert SENTENCE_DE in " ".join(term.text.split())
    # (TEXTUAL=debug: Textual would print every error.) Keys typed after the app ended are
    # echoed by the terminal itself, after the sentence.
    shown = term.text.split("Sicherung wieder her).")[0]
    assert "Traceback" not in term.text and PASSWORD not in shown
    assert "Etwas ist schiefgelaufen" not in term.text
    assert "locals" not in term.text and "password =" not in term.text


async def test_a_damaged_file_found_by_the_login_itself_is_one_sentence(damaged, monkeypatch):
    """The login can reach the database before the start-up check has: the error raised in
    the UI thread ends the app with the same sentence (Textual would print its traceback
    with the locals, the typed password among them)."""
    from tui.app import KioskApp

    monkeypatch.setenv("KIOSK_HOME", str(damaged.parent))
    monkeypatch.setattr(KioskApp, "_start_background", lambda self: None)
    app = KioskApp(database_url=f"sqlite:///{damaged}", cursor_blink=False)
    with pytest.raises(StorageUnavailable):
        async with app.run_test(size=(100, 30)) as pilot:
            app.open_flow("login")
            await pilot.pause()
            app.screen.query_one("#login-identifier").value = "lfuchs"
            app.screen.query_one("#login-password").value = PASSWORD
            await pilot.click("#login-submit")
            await pilot.pause()
    assert app.return_code == 2
    assert SENTENCE_DE in app.exit_message and PASSWORD not in app.exit_message
    rendered = [str(r) for r in app._exit_renderables]
    assert all("Traceback" not in r and PASSWORD not in r for r in rendered)
