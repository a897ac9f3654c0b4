"""End to end in a real browser: `kiosk serve` (textual-serve) driven by Debian's headless
Chromium through Selenium and chromedriver.

The terminal in the page is xterm.js drawing on a canvas, so the screen text is read from
xterm's own buffer: a script installed before the page loads keeps a reference to the page's
terminal object (textual-serve does not export it). Keys go to xterm's focused text area, the
way a person types. Skipped (with the reason) where /usr/bin/chromium is not installed;
`.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parent.parent
PASSWORD = "Zwei Kaffee bitte, schwarz und heiss"

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless browser test needs Debian's chromium and chromium-driver "
           "(apt-get install -y chromium chromium-driver; .ci/run installs them)",
)

# Keeps the page's terminal object reachable: textual-serve assigns `this.fitAddon` in the
# constructor of its terminal wrapper, so a setter on Object.prototype sees that object once.
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, 'fitAddon', {configurable: true,
  set(value) {
    window.__kioskTerminal = this;
    Object.defineProperty(this, 'fitAddon', {value: value, writable: true, configurable: true});
  },
  get() { return undefined; }});
"""
READ_SCREEN = """
const wrapper = window.__kioskTerminal;
if (!wrapper || !wrapper.terminal) return null;
const term = wrapper.terminal, buffer = term.buffer.active, rows = [];
for (let i = 0; i < term.rows; i++) {
  const line = buffer.getLine(buffer.viewportY + i);
  rows.push(line ? line.translateToString(true) : '');
}
return rows.join('\\n');
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kiosk(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


class Served:
    """A running `kiosk serve` and its environment (data dir, database)."""

    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = f"sqlite:///{tmp_path / 'kiosk.db'}"
        self.env = {**os.environ, "KIOSK_HOME": str(tmp_path / "home"),
                    "KIOSK_DATABASE_URL": self.db}
        self.env.pop("KIOSK_SECRET_KEY", None)
        _kiosk(self.env, "db", "upgrade")
        self.log = (tmp_path / "serve.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), *extra],
            env=self.env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"kiosk serve did not start: {self.log_text()}") from None
                time.sleep(0.2)

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def log_once(self, wanted: str, timeout: float = 10) -> str:
        """The log as soon as it holds ``wanted``: the server's writer thread writes its
        buffered lines every quarter second, later than the answer on a loaded machine."""
        deadline = time.monotonic() + timeout
        while wanted not in (text := self.log_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return text

    def sessions(self) -> list[list[str]]:
        """Command lines of the app processes textual-serve started (one per browser tab)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            args = [c.decode(errors="replace") for c in cmd if c]
            # textual-serve runs the command through `sh -c`; the app is the shell's child
            # (or the shell itself once it execs).
            if "tui.cli" in args and "serve" not in args and self._descends(int(stat[1])):
                found.append(args)
        return found

    def _descends(self, ppid: int) -> bool:
        while ppid > 1:
            if ppid == self.process.pid:
                return True
            try:
                ppid = int(Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                return False
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


class Browser:
    """One headless Chromium tab on the served app."""

    def __init__(self, url: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--enable-unsafe-swiftshader"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                    {"source": CAPTURE_TERMINAL})
        self.driver.get(url + "/")

    def screen(self) -> str:
        return self.driver.execute_script(READ_SCREEN) or ""

    def wait_for(self, *needles: str, timeout: float = 20) -> str:
        """Wait until every needle is on screen; fail with the screen shown."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if all(n in text for n in needles):
                return text
            if time.monotonic() > deadline:
                pytest.fail(f"not on screen: {needles!r}\n--- screen ---\n{text}")
            time.sleep(0.25)

    def wait_until(self, check: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                pytest.fail(f"{what}\n--- screen ---\n{text}")
            time.sleep(0.25)

    def keys(self, *keys: str, pause: float = 0.3) -> None:
        """Type into the terminal (xterm's focused text area), one key or string at a time."""
        from selenium.webdriver.common.action_chains import ActionChains

        self.driver.execute_script("window.__kioskTerminal.terminal.focus()")
        for key in keys:
            ActionChains(self.driver).send_keys(key).perform()
            time.sleep(pause)

    def ctrl(self, letter: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        self.driver.execute_script("window.__kioskTerminal.terminal.focus()")
        ActionChains(self.driver).key_down(Keys.CONTROL).send_keys(letter) \
            .key_up(Keys.CONTROL).perform()
        time.sleep(0.3)

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
def open_browser() -> Iterator[Callable[[str], Browser]]:
    browsers: list[Browser] = []

    def open_one(url: str) -> Browser:
        browser = Browser(url)
        browsers.append(browser)
        return browser

    yield open_one
    for browser in browsers:
        browser.quit()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    servers: list[Served] = []

    def start(*extra: str) -> Served:
        server = Served(tmp_path, *extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _confirmation_code(server: Served, email: str) -> str:
    mails = json.loads(_kiosk(server.env, "outbox", "--json"))
    codes = [m["params"]["code"] for m in mails if m["to"] == email and "code" in m["params"]]
    assert codes, f"no confirmation mail to {email}: {mails}"
    return codes[-1]


@needs_chromium
def test_register_confirm_and_login_in_a_browser(served, open_browser) -> None:
    from selenium.webdriver.common.keys import Keys

    server = served()
    browser = open_browser(server.url)
    browser.wait_for("Willkommen am Kundenkiosk", "Benutzerkonto anlegen")
    assert len(server.sessions()) == 1, "one app process for the browser session"

    # Welcome: the first button (Anmelden) has the focus; the next one registers.
    browser.keys(Keys.TAB, Keys.ENTER)
    browser.wait_for("Kundentyp", "E-Mail-Adresse")
    email = "erika.browser@example.org"
    # Customer type (preselected) → username → e-mail → password → confirmation →
    # salutation → first name → last name → street → postal code → city → country →
    # customer number → terms.
    browser.keys(Keys.TAB, "erika.browser", Keys.TAB, email, Keys.TAB, PASSWORD, Keys.TAB,
                 PASSWORD, Keys.TAB, Keys.TAB, "Erika", Keys.TAB, "Browser", Keys.TAB,
                 "Artilleriestr. 39", Keys.TAB, "34117", Keys.TAB, "Kassel", Keys.TAB,
                 Keys.TAB, Keys.TAB, " ")
    browser.ctrl("s")

    browser.wait_for("E-Mail-Adresse bestätigen", timeout=30)
    code = _confirmation_code(server, email)
    browser.keys(code, Keys.ENTER)

    screen = browser.wait_for("bestätigt", "Passwort", timeout=30)
    assert "Traceback" not in screen
    # The login screen has the identifier filled in and the password field focused.
    browser.keys(PASSWORD, Keys.ENTER)
    screen = browser.wait_for("Hallo Erika", "Meine Kundendaten", "Abmelden", timeout=30)
    assert "Traceback" not in screen and "Error" not in screen
    assert "Traceback" not in server.log_text()


@needs_chromium
def test_each_browser_session_has_its_own_process_kiosk_mode_and_idle_wipe(
        served, open_browser) -> None:
    from selenium.webdriver.common.keys import Keys

    server = served("--kiosk", "--idle-timeout", "15", "--lang", "en")
    first = open_browser(server.url)
    first.wait_for("Welcome", "Create an account")
    second = open_browser(server.url)
    second.wait_for("Welcome", "Create an account")
    sessions = server.sessions()
    assert len(sessions) == 2, sessions
    for args in sessions:
        assert args[-5:] == ["--lang", "en", "--kiosk", "--idle-timeout", "15"]

    # Kiosk mode in every session: Ctrl+Q does not end the app.
    first.ctrl("q")
    first.keys(Keys.ENTER)  # the focused first button: log in
    first.wait_for("Password", "Forgot password")
    assert len(server.sessions()) == 2
    # Only the idle session is wiped back to the welcome screen; the other one is untouched.
    second.keys(Keys.TAB, Keys.ENTER)
    second.wait_for("Customer type")
    deadline = time.monotonic() + 30
    while "Forgot password" in first.screen() or "Welcome" not in first.screen():
        assert time.monotonic() < deadline, f"idle session not wiped:\n{first.screen()}"
        second.keys("x", pause=1.0)  # someone keeps typing in the other session
    assert "Customer type" in second.screen(), second.screen()
    assert "Traceback" not in server.log_text()


def test_session_command_and_public_url() -> None:
    """What every browser session runs, and the address the page connects back to."""
    import shlex

    from tui.serve import ServeOptions, app_command

    options = ServeOptions(database_url="sqlite:////srv/kiosk data/kiosk.db", kiosk_mode=True,
                           language="en", idle_timeout=90)
    assert shlex.split(app_command(options)) == [
        sys.executable, "-m", "tui.cli", "--db", "sqlite:////srv/kiosk data/kiosk.db",
        "--lang", "en", "--kiosk", "--idle-timeout", "90"]
    assert shlex.split(app_command(ServeOptions())) == [sys.executable, "-m", "tui.cli"]
    assert ServeOptions(host="0.0.0.0", port=8080).resolved_public_url == "http://0.0.0.0:8080"
    assert ServeOptions(host="::1").resolved_public_url == "http://[::1]:8000"
    assert ServeOptions(public_url="https://kiosk.example.org/").resolved_public_url == \
        "https://kiosk.example.org"


def test_serve_refuses_a_bad_port_and_an_unreachable_database(tmp_path, capsys) -> None:
    from tui.cli import main

    assert main(["serve", "--port", "70000"]) == 2
    assert "70000" in capsys.readouterr().err
    missing = f"sqlite:///{tmp_path / 'no' / 'such' / 'kiosk.db'}"
    assert main(["serve", "--db", missing, "--port", str(_free_port())]) == 2
    assert "does not exist" in capsys.readouterr().err
