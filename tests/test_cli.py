"""Bad input at the command line: one clear sentence, a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from tui.cli import main


def test_database_directory_missing(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/nope/kiosk.db"
    assert main(["--db", url, "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_unreachable_postgres(capsys):
    assert main(["--db", "postgresql://nobody@127.0.0.1:9/none", "db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kiosk:") and len(err.splitlines()) == 1


def test_invalid_url(capsys):
    assert main(["--db", "not a url", "db", "upgrade"]) == 2
    assert "not valid" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write a read-only directory")
def test_read_only_directory(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    assert main(["--db", f"sqlite:///{folder}/kiosk.db", "db", "upgrade"]) == 2
    assert "cannot be reached or written" in capsys.readouterr().err


def test_unknown_language_is_refused():
    out = subprocess.run([sys.executable, "-m", "tui.cli", "--lang", "fr"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "invalid choice: 'fr'" in out.stderr and "Traceback" not in out.stderr


def test_db_upgrade_then_status(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/kiosk.db"
    assert main(["--db", url, "db", "upgrade"]) == 0
    assert main(["--db", url, "db", "status"]) == 0
    out = capsys.readouterr().out
    assert "schema 0001" in out or "(head" in out


def test_missing_import_file(tmp_path, capsys):
    assert main(["--db", f"sqlite:///{tmp_path}/k.db", "import", str(tmp_path / "x.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_db_option_after_the_subcommand(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/after.db"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert (tmp_path / "after.db").exists()


async def test_app_with_unreachable_database_exits_with_one_sentence(tmp_path, monkeypatch):
    from tui.app import KioskApp

    monkeypatch.setenv("KIOSK_HOME", str(tmp_path))
    app = KioskApp(database_url="postgresql://nobody@127.0.0.1:9/none")
    async with app.run_test():
        for _ in range(200):
            if app.return_code == 2:
                break
            await asyncio.sleep(0.05)
    assert app.return_code == 2
    assert "nicht erreichbar" in (app.exit_message or "")  # in the app's language (de)


async def test_app_upgrades_a_new_database_after_the_first_frame(tmp_path, monkeypatch):
    from db.migrate import current_revision, newest_revision_file
    from tui.app import KioskApp

    monkeypatch.setenv("KIOSK_HOME", str(tmp_path))
    app = KioskApp(database_url=f"sqlite:///{tmp_path}/new.db")
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert current_revision(app.backend.engine) == newest_revision_file()
    assert app.return_code in (None, 0)


def test_shell_settings_read_the_environment_like_settings(monkeypatch):
    from services.config import Settings
    from services.shell_settings import shell_settings

    monkeypatch.setenv("KIOSK_LANGUAGE", "en")
    monkeypatch.setenv("KIOSK_IDLE_TIMEOUT_KIOSK", "75")
    monkeypatch.setenv("KIOSK_TERMINAL_ID", "kiosk-7")
    full, early = Settings(), shell_settings()
    for name in ("language", "idle_timeout_kiosk", "idle_timeout_desk", "idle_warning",
                 "terminal_id"):
        assert getattr(full, name) == getattr(early, name), name
    assert early.idle_timeout_kiosk == 75 and early.terminal_id == "kiosk-7"


def test_an_unexpected_error_is_one_sentence_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Issue 19.1: an error no handler expected (there: an IntegrityError from the demo
    loader) printed a raw traceback; it is one sentence and a non-zero exit."""
    import services.demo

    def broken(backend):  # type: ignore[no-untyped-def]
        raise RuntimeError("UNIQUE constraint failed: membership.customer_id")

    monkeypatch.setenv("KIOSK_HOME", str(tmp_path))
    monkeypatch.setattr(services.demo, "load_demo", broken)
    assert main(["--db", f"sqlite:///{tmp_path}/k.db", "demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "RuntimeError" in err
