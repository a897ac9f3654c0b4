"""Issue 20 item 11: any byte on the kiosk's input is survivable — the real `kiosk --kiosk` on a
pty gets invalid UTF-8 and stays alive and responsive."""

from __future__ import annotations

import codecs

import pytest

from tests.terminal import KIOSK, Terminal, kiosk_env
from tui import terminal_input

F2 = b"\x1bOQ"  # switch the language


@pytest.fixture
def home(tmp_path, sqlite_template):
    import shutil

    folder = tmp_path / "home"
    folder.mkdir()
    shutil.copy(sqlite_template, folder / "kiosk.db")
    return folder


@pytest.mark.parametrize("garbage", [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                     b"\xfe\xff" * 50 + b"\x80"], ids=lambda b: b[:5].hex())
def test_invalid_utf8_on_the_input_does_not_end_the_kiosk(home, garbage):
    term = Terminal([KIOSK, "--kiosk"], kiosk_env(home))
    try:
        assert term.wait_for("Anmelden", 20), term.text[-1500:]
        term.send(garbage)
        term.drain(0.5)
        term.send(F2)
        assert term.wait_for("Log in", 10), term.text[-1500:]
        assert term.alive()
        assert "UnicodeDecodeError" not in term.text and "Traceback" not in term.text
    finally:
        term.close()


def test_the_lenient_decoder_replaces_and_keeps_split_characters():
    decode = terminal_input.lenient_decoder("utf-8")().decode
    assert decode(b"a\xffb") == "a\ufffdb"
    assert decode(b"\xc3") == "" and decode(b"\xa4") == "ä"  # split across two reads


def test_install_reaches_the_drivers_textual_loaded():
    import textual.drivers.linux_driver as linux_driver

    terminal_input.install()
    assert linux_driver.getincrementaldecoder is terminal_input.lenient_decoder
    assert linux_driver.getincrementaldecoder is not codecs.getincrementaldecoder
