"""``kiosk import FILE|- [--dry-run] [--quiet]``: the operator's side of services.importer.

On a terminal a progress bar (lines, lines/s, ETA); otherwise plain log lines (each phase,
and the reading progress every ``PLAIN_EVERY`` seconds). Rejected lines go to standard error,
one per line with its number; the summary per kind to standard output.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from services.importer import ImportReport, Progress, import_file, plural

PLAIN_EVERY = 10.0  # seconds between two plain progress lines while reading
_PHASE = {"hashing": "hashing customer passwords (argon2id)",
          "checking": "checking duplicates and references"}


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class PlainProgress:
    """Log lines for a file or pipe: phases as they start, reading every few seconds."""

    def __init__(self, out: TextIO, name: str) -> None:
        self.out, self.name = out, name
        self.start = self.last = time.monotonic()
        self.phase = ""
        self.kind: str | None = None

    def __call__(self, event: Progress) -> None:
        now = time.monotonic()
        if event.phase == "reading":
            if not self.phase:
                self._say(f"reading {self.name}")
                self.phase = "reading"
            if now - self.last >= PLAIN_EVERY:
                self.last = now
                rate = event.lines / max(now - self.start, 1e-9)
                line = f"read {event.lines:,} lines, {rate:,.0f} lines/s"
                if event.total:
                    share = event.done / event.total
                    line += f", {share:.0%}"
                    if 0 < share < 1:
                        line += f", about {_duration((now - self.start) * (1 - share) / share)}"
                        line += " left"
                self._say(line)
        elif event.phase == "writing":
            if event.kind != self.kind:
                self.kind = event.kind
                self.phase = "writing"
                assert event.kind is not None
                self._say(f"writing {plural(event.kind, event.total or 0)}")
        elif event.phase != self.phase:
            self.phase = event.phase
            self._say(_PHASE.get(event.phase, event.phase) + f" ({event.lines:,} lines read)")

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """A rich progress bar on a terminal: bytes read (or lines from a pipe), then rows."""

    def __init__(self, out: TextIO, name: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        self.bar = Bar(
            TextColumn("{task.description}", markup=False), BarColumn(),
            TaskProgressColumn(), TextColumn("{task.fields[lines]:>12,} lines", markup=False),
            TextColumn("{task.fields[rate]:>9,.0f} lines/s", markup=False),
            TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(file=out), transient=False,
        )
        self.bar.start()
        self.start = time.monotonic()
        self.task: Any = self.bar.add_task(f"reading {name}", total=None, lines=0, rate=0.0)
        self.key: tuple[str, str | None] = ("reading", None)

    def __call__(self, event: Progress) -> None:
        key = (event.phase, event.kind)
        if key != self.key:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total or 0)
            self.key = key
            label = (f"writing {plural(event.kind, event.total or 0)}" if event.kind
                     else _PHASE.get(event.phase, event.phase))
            self.task = self.bar.add_task(label, total=event.total if event.kind else None,
                                          lines=event.lines, rate=0.0)
        rate = event.lines / max(time.monotonic() - self.start, 1e-9)
        self.bar.update(self.task, completed=event.done, total=event.total, lines=event.lines,
                        rate=rate)

    def close(self) -> None:
        self.bar.stop()


def run(backend: Any, source: str, *, dry_run: bool, quiet: bool) -> int:
    name = "standard input" if source == "-" else source
    display: PlainProgress | BarProgress | None = None
    if not quiet:
        display = (BarProgress if sys.stdout.isatty() else PlainProgress)(sys.stdout, name)
    try:
        report = import_file(backend, source, dry_run=dry_run, progress=display)
    except KeyboardInterrupt:
        print("kiosk: interrupted; nothing was imported.", file=sys.stderr)
        return 130
    finally:
        if display is not None:
            display.close()
    return _report(report, quiet=quiet)


def _report(report: ImportReport, *, quiet: bool) -> int:
    for error in report.errors:
        print(f"line {error.line}: {error.reason}", file=sys.stderr)
    if report.error_count:
        hidden = report.error_count - len(report.errors)
        if hidden:
            print(f"… and {hidden:,} more rejected line(s) not shown", file=sys.stderr)
        print(report.summary(), file=sys.stderr)
        return 1
    if quiet:
        return 0
    print(report.summary())
    for line in report.details():
        print("  " + line)
    rate = report.lines / max(report.seconds, 1e-9)
    timing = (f"{report.lines:,} line{'' if report.lines == 1 else 's'} in "
              f"{_duration(report.seconds)} ({rate:,.0f} lines/s)")
    if report.passwords_hashed:
        timing += f"; {report.passwords_hashed:,} passwords hashed"
    print(timing)
    return 0
