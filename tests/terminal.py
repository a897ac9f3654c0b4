"""The real `kiosk` on a pseudo-terminal: a child process with a tty, bytes in, output out.

For what Pilot cannot show: Textual's own input decoder (bytes from the terminal) and what
the process prints when it ends (tracebacks, exit sentences).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

KIOSK = str(Path(sys.executable).with_name("kiosk"))
_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\x1b\][^\x07]*\x07")


class Terminal:
    """``Terminal([kiosk, "--kiosk"], env)``: a child on a 100x30 pty."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (100, 30)):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.raw = b""
        self.status: int | None = None

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child closed the pty (it ended)
                chunk = b""
            self.raw += chunk

    @property
    def text(self) -> str:
        """Everything printed so far, escape sequences removed."""
        return _ESCAPES.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 20.0) -> bool:
        """Read until ``needle`` shows (True) or the time is up / the child ended (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text:
                return True
            if not self.alive():
                self._read(0.2)
                return needle in self.text
            self._read(0.1)
        return needle in self.text

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(0.05)

    def send(self, data: bytes) -> None:
        try:
            os.write(self.fd, data)
        except OSError:
            pass  # the child has gone; alive() says so

    def alive(self) -> bool:
        if self.status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.status = os.waitstatus_to_exitcode(status)
        return False

    def wait_exit(self, timeout: float = 20.0) -> int | None:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            self._read(0.1)
        self.drain(0.2)
        return self.status

    def close(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.status = -9
        os.close(self.fd)


def kiosk_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "PYTEST"))}
    env.update(KIOSK_HOME=str(home), TERM="xterm-256color", TEXTUAL_ANIMATIONS="none",
               COLUMNS="100", LINES="30", **extra)
    return env
