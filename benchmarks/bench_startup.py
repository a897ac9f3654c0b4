"""Start-up: `kiosk` to an interactive welcome screen vs. a bare Textual app with the same widgets.

Both run as fresh processes in the same run, measured the same way: wall time from process
start until the app has rendered its first frame after ``on_ready`` (headless driver;
``KIOSK_EXIT_ON_READY=<file>`` makes the app write that wall-clock time and exit). The kiosk uses a migrated temporary SQLite database and a
temporary ``KIOSK_HOME``. Median of N runs after one warm-up each; goal: ratio <= 1.5.

    python -m benchmarks.bench_startup [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADLESS = "textual.drivers.headless_driver:HeadlessDriver"

BARE_APP = '''
import os
from textual.app import App
from textual.containers import Center, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Label


class Bare(App):
    def compose(self):
        with VerticalScroll():
            with Vertical():
                yield Label("Willkommen am Kundenkiosk")
                yield Label("Hier verknüpfen Sie Ihre Kundennummern, Verträge und "
                            "Lizenzschlüssel mit Ihrem eigenen Benutzerkonto.")
                for text in ("Anmelden", "Benutzerkonto anlegen", "Noch kein Benutzer?",
                             "English", "Hilfe (F1)"):
                    with Center():
                        yield Button(text)
        yield Footer()

    def on_ready(self):
        self.call_after_refresh(self._ready_and_exit)

    def _ready_and_exit(self):
        import time
        with open(os.environ["KIOSK_EXIT_ON_READY"], "w") as handle:
            handle.write(repr(time.time()))
        self.exit()


Bare().run()
'''


def _kiosk_command() -> list[str]:
    script = Path(sys.executable).with_name("kiosk")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tui.cli"]


def _time(command: list[str], env: dict[str, str], ready_file: Path) -> float:
    """Seconds from spawning the process to its first rendered frame (reported by the app)."""
    ready_file.unlink(missing_ok=True)
    env = {**env, "KIOSK_EXIT_ON_READY": str(ready_file)}
    start = time.time()
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    if result.returncode != 0 or not ready_file.exists():
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.decode()[-2000:]}")
    return float(ready_file.read_text()) - start


def _import_cost(module: str, env: dict[str, str], runs: int) -> float:
    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        return time.perf_counter() - start

    empty = statistics.median(run("pass") for _ in range(runs))
    return statistics.median(run(f"import {module}") for _ in range(runs)) - empty


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_startup")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])

    work = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    try:
        env = dict(os.environ)
        env.update({
            "KIOSK_HOME": str(work / "home"),
            "KIOSK_DATABASE_URL": f"sqlite:///{work / 'kiosk.db'}",
            "TEXTUAL_DRIVER": HEADLESS,
            "TEXTUAL_ANIMATIONS": "none",
        })
        env.pop("TEXTUAL", None)
        from services.i18n import compile_catalogs

        compile_catalogs()  # as `make run` / `make bench` do
        subprocess.run([*_kiosk_command(), "db", "upgrade"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        bare = work / "bare_app.py"
        bare.write_text(BARE_APP, encoding="utf-8")
        kiosk_cmd = _kiosk_command()
        bare_cmd = [sys.executable, str(bare)]
        ready = work / "ready"

        _time(kiosk_cmd, env, ready)  # warm-up: page cache, .pyc files
        _time(bare_cmd, env, ready)
        kiosk_times, bare_times = [], []
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            kiosk_times.append(_time(kiosk_cmd, env, ready))
            bare_times.append(_time(bare_cmd, env, ready))
        kiosk = statistics.median(kiosk_times)
        base = statistics.median(bare_times)
        print(f"kiosk start to interactive welcome: {kiosk * 1000:7.0f} ms (median of {args.runs})")
        print(f"bare Textual app, same widgets:     {base * 1000:7.0f} ms (median of {args.runs})")
        print(f"ratio: {kiosk / base:.2f}x (goal <= 1.5x)")
        print("where the difference goes (import time in a fresh process, median):")
        for label, module in (("services.backend (sqlalchemy, alembic, settings)",
                               "services.backend"),
                              ("tui.app (textual, screens, i18n)", "tui.app")):
            cost = _import_cost(module, env, args.runs)
            print(f"  {label:52} {cost * 1000:6.0f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
