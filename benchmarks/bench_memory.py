"""Memory: resident set size (VmRSS from /proc) of one idle kiosk process and of one
`kiosk serve` browser session process, against a bare Textual app with similar widgets
(bench_startup's), in the same run. Goal: <= 2x.

    python -m benchmarks.bench_memory [--settle 4]

* terminal: `kiosk` and the bare app each in a pseudo terminal (110x40), measured once the
  welcome screen is on it and the process has been idle for ``--settle`` seconds (the kiosk
  opens its SQLite database after the first frame, so that is included);
* browser: `kiosk serve` and textual-serve serving the bare app, each with one websocket
  client (like a browser tab, 110x40); measured is the app process textual-serve started for
  that session. The server processes themselves are shown too (one per installation).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from benchmarks.bench_startup import BARE_APP, _kiosk_command

# The same bare app as bench_startup's, staying open instead of exiting when ready.
BARE_IDLE_APP = BARE_APP.replace("self.call_after_refresh(self._ready_and_exit)", "pass")
SIZE = (110, 40)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def descendants(root: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        ancestor = _parent(pid)
        while ancestor > 1 and ancestor != root:
            ancestor = _parent(ancestor)
        if ancestor == root:
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            found.append((pid, cmd))
    return found


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def in_terminal(command: list[str], env: dict[str, str], marker: bytes, settle: float) -> int:
    """RSS (KiB) of ``command`` running in a pseudo terminal, idle after ``marker`` appeared."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env,
                               start_new_session=True)
    os.close(slave)
    seen = bytearray()
    ready = threading.Event()

    def drain() -> None:  # the app blocks if nobody reads its output
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)
            if marker in seen:
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not ready.wait(60):
            raise SystemExit(f"{command} did not show {marker!r}: {bytes(seen[-500:])!r}")
        time.sleep(settle)
        return rss_kib(process.pid)
    finally:
        _stop(process)
        os.close(master)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _one_session(port: int, marker: bytes, settle: float, server_pid: int,
                       script: str) -> tuple[int, int]:
    """Open one websocket session; RSS (KiB) of its app process and of the server."""
    import aiohttp

    url = f"http://127.0.0.1:{port}/ws?width={SIZE[0]}&height={SIZE[1]}"
    async with aiohttp.ClientSession() as client, client.ws_connect(url) as ws:
        await ws.send_json(["resize", {"width": SIZE[0], "height": SIZE[1]}])
        seen = bytearray()
        deadline = time.monotonic() + 60
        while marker not in seen:
            if time.monotonic() > deadline:
                raise SystemExit(f"the session did not show {marker!r}")
            try:
                message = await ws.receive(timeout=5)
            except TimeoutError:
                continue
            if message.type == aiohttp.WSMsgType.BINARY:
                seen.extend(message.data)
            elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise SystemExit("the session closed")
        end = time.monotonic() + settle
        while time.monotonic() < end:  # keep reading, as a browser does
            try:
                await ws.receive(timeout=max(0.1, end - time.monotonic()))
            except TimeoutError:
                pass
        apps = [pid for pid, cmd in descendants(server_pid)
                if script in cmd and not cmd.startswith(("/bin/sh", "sh "))]
        if len(apps) != 1:
            raise SystemExit(f"expected one session process, found {descendants(server_pid)}")
        return rss_kib(apps[0]), rss_kib(server_pid)


def in_browser_session(server: list[str], env: dict[str, str], port: int, marker: bytes,
                       settle: float, script: str) -> tuple[int, int]:
    process = subprocess.Popen(server, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{server} did not start") from None
                time.sleep(0.2)
        return asyncio.run(_one_session(port, marker, settle, process.pid, script))
    finally:
        _stop(process)


# Where the kiosk's memory goes beyond the bare app: imported one after the other into one
# fresh interpreter that has textual.app already, the RSS growth of each step.
WHERE = ("textual.app", "pydantic", "pydantic_settings", "sqlalchemy", "sqlalchemy.orm",
         "argon2", "babel.dates", "email_validator", "schwifty", "phonenumbers",
         "services.backend", "services.accounts", "tui.app", "screens.home")


def import_costs_kib(env: dict[str, str]) -> list[tuple[str, int]]:
    code = ("import os, re, sys\n"
            "rss = lambda: int(re.search(r'VmRSS:\\s+(\\d+)', "
            "open(f'/proc/{os.getpid()}/status').read()).group(1))\n"
            "last = rss()\n"
            "for name in sys.argv[1:]:\n"
            "    __import__(name); now = rss(); print(name, now - last); last = now\n")
    done = subprocess.run([sys.executable, "-c", code, *WHERE], env=env, capture_output=True,
                          text=True, check=True)
    return [(name, int(kib)) for name, kib in (line.split() for line in done.stdout.splitlines())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory")
    parser.add_argument("--settle", type=float, default=4.0,
                        help="seconds idle after the welcome screen before measuring")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    work = Path(tempfile.mkdtemp(prefix="kiosk-bench-mem-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "KIOSK_"))}
        env.update({"KIOSK_HOME": str(work / "home"), "TERM": "xterm-256color",
                    "KIOSK_DATABASE_URL": f"sqlite:///{work / 'kiosk.db'}",
                    "TEXTUAL_ANIMATIONS": "none"})
        kiosk = _kiosk_command()
        subprocess.run([*kiosk, "db", "upgrade"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        bare = work / "bare_app.py"
        bare.write_text(BARE_IDLE_APP, encoding="utf-8")
        marker = b"Kundenkiosk"

        kiosk_tty = in_terminal(kiosk, env, marker, args.settle)
        bare_tty = in_terminal([sys.executable, str(bare)], env, marker, args.settle)

        port = _free_port()
        kiosk_web, kiosk_server = in_browser_session(
            [*kiosk, "serve", "--port", str(port)], env, port, marker, args.settle, "tui.cli")
        port = _free_port()
        bare_server_cmd = [sys.executable, "-c",
                           "import sys; from textual_serve.server import Server; "
                           f"Server(sys.argv[1], host='127.0.0.1', port={port}).serve()",
                           f"{sys.executable} {bare}"]
        bare_web, bare_server = in_browser_session(bare_server_cmd, env, port, marker,
                                                   args.settle, str(bare))
        costs = import_costs_kib(env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def mib(kib: int) -> str:
        return f"{kib / 1024:7.1f} MiB"

    print(f"idle kiosk in a terminal:          {mib(kiosk_tty)}")
    print(f"bare Textual app in a terminal:    {mib(bare_tty)}")
    print(f"  ratio {kiosk_tty / bare_tty:.2f}x (goal <= 2x)")
    print(f"kiosk serve, one browser session:  {mib(kiosk_web)}")
    print(f"bare app served, one session:      {mib(bare_web)}")
    print(f"  ratio {kiosk_web / bare_web:.2f}x (goal <= 2x); "
          f"against the bare app in a terminal {kiosk_web / bare_tty:.2f}x")
    print(f"server processes (once per installation): kiosk serve {mib(kiosk_server)}, "
          f"bare textual-serve {mib(bare_server)}")
    print("where it goes (imported one after the other into one fresh interpreter):")
    for module, kib in costs:
        print(f"  + {module:20} {mib(kib)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
