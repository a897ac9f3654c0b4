"""Logs for operators: readable text by default, one JSON object per line with
``KIOSK_LOG_FORMAT=json`` (journald, Loki), to stderr or ``KIOSK_LOG_FILE``.

Every line has ``time``, ``level``, ``event``, ``terminal_id`` and ``request_id``; flows add
``outcome`` and ``duration_ms``. Each audit event is logged once its transaction commits
(``audit`` lines: the event name, outcome and terminal — never the event's details), so the
log tells what happened without a line of code in the flows.

Nothing secret or personal goes into a line: the audit lines carry no details, link tokens
in paths are replaced by ``[redacted]`` (``redact``, also applied to the access log of
``kiosk serve``), and an exception is logged by its type and the code locations only (no
message, no locals: a database error's message can quote the row's values).
"""

from __future__ import annotations

import atexit
import collections
import contextvars
import datetime as dt
import itertools
import json
import logging
import re
import secrets
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

#: The request (HTTP request, or one transaction) a line belongs to.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)

#: The paths of mailed links and their token (``tui.weblinks``).
LINK_PATH = re.compile(r"(/(?:verify|reset|confirm-email|org/confirm|org/complete)/)[^\s?\"'#]+")
REDACTED = "[redacted]"

_TERMINAL = {"id": ""}
_INSTALLED = {"audit": False}
_WRITER: dict[str, Any] = {}


def redact(text: str) -> str:
    """``text`` with the token of every link path replaced."""
    return LINK_PATH.sub(lambda m: m.group(1) + REDACTED, text)


def new_request_id() -> str:
    return secrets.token_hex(6)


_PROCESS_ID = secrets.token_hex(3)
_SERIAL = itertools.count(1)


def _transaction_id() -> str:
    """The id of a transaction outside any request: this process's prefix and a serial."""
    return f"{_PROCESS_ID}-{next(_SERIAL)}"


class RedactFilter(logging.Filter):
    """Redacts link tokens from the message and its arguments (every handler has it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _where(exc_info: Any) -> list[str]:
    """An exception's code locations (file:line function), without messages or locals."""
    frames = traceback.extract_tb(exc_info[2])
    return [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames][-8:]


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
            "terminal_id": getattr(record, "terminal_id", None) or _TERMINAL["id"],
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for name in ("outcome", "duration_ms", "status", "method", "path"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
            line["where"] = _where(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The readable default; an exception shows its type and code locations only."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return f"{ei[0].__name__} at " + " < ".join(reversed(_where(ei)))


class _Buffered(logging.Handler):
    """Keeps records in memory; a writer thread formats, redacts and writes them a few times a
    second. A flow pays one ``deque.append`` per line — no lock, no thread woken, no disk."""

    def __init__(self, target: logging.Handler, interval: float = 0.25) -> None:
        super().__init__()
        self.target = target
        self.interval = interval
        self.records: collections.deque[logging.LogRecord] = collections.deque()
        self.draining = threading.Lock()
        self.stopped = threading.Event()
        self.writer = threading.Thread(target=self._run, name="kiosk-log-writer", daemon=True)
        self.writer.start()

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        self.records.append(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        """Write every line logged so far (from any thread)."""
        with self.draining:
            while self.records:
                self.target.handle(self.records.popleft())
            self.target.flush()

    def close(self) -> None:
        self.stopped.set()
        if self.writer.is_alive() and self.writer is not threading.current_thread():
            self.writer.join(timeout=5)
        self.flush()
        self.target.close()
        super().close()


def configure(fmt: str = "text", file: Path | None = None, *, terminal_id: str = "",
              level: int = logging.INFO) -> logging.Handler:
    """Send the ``kundenkiosk`` logs (and aiohttp's) to stderr or ``file`` in ``fmt``.

    A flow only appends its records to a buffer; a writer thread formats, redacts and
    writes them every quarter second (``flush`` at once), so a login or a link never waits
    for a disk or a pipe. Returns the root handler.
    """
    _TERMINAL["id"] = terminal_id
    target: logging.Handler = (logging.FileHandler(file, encoding="utf-8") if file
                               else logging.StreamHandler(sys.stderr))
    target.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    target.addFilter(RedactFilter())
    stop()
    handler = _WRITER["handler"] = _Buffered(target)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    install_audit_lines()
    return handler


def flush() -> None:
    """Write every line logged so far."""
    if (handler := _WRITER.get("handler")) is not None:
        handler.flush()


def stop() -> None:
    """Write what is buffered and end the writer thread (at exit, or before a new configure)."""
    if (handler := _WRITER.pop("handler", None)) is not None:
        handler.close()


atexit.register(stop)


# --------------------------------------------------------------------------- audit lines

audit_log = logging.getLogger("kundenkiosk.audit")


def install_audit_lines() -> None:
    """Log every committed audit event (once per process; a rolled-back one is not logged)."""
    if _INSTALLED["audit"]:
        return
    _INSTALLED["audit"] = True
    event.listen(Session, "after_begin", _began)
    event.listen(Session, "after_flush", _flushed)
    event.listen(Session, "after_commit", _committed)
    event.listen(Session, "after_rollback", _rolled_back)


def _began(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info.setdefault("kiosk_began", time.perf_counter())


def _flushed(session: Session, _context: Any) -> None:
    from db.models import AuditEvent

    found = [(o.event, o.outcome, o.terminal_id) for o in session.new
             if isinstance(o, AuditEvent)]
    if found:
        session.info.setdefault("kiosk_audit", []).extend(found)


def _committed(session: Session) -> None:
    began = session.info.pop("kiosk_began", None)
    found = session.info.pop("kiosk_audit", [])
    if not found or not audit_log.isEnabledFor(logging.INFO):
        return
    duration = round((time.perf_counter() - began) * 1000, 2) if began else None
    rid = request_id.get() or _transaction_id()
    for name, outcome, terminal in found:
        # makeRecord + handle: what .info() does, without walking the stack for the caller
        audit_log.handle(audit_log.makeRecord(
            audit_log.name, logging.INFO, __file__, 0, name, None, None,
            extra={"outcome": outcome or "ok", "duration_ms": duration,
                   "terminal_id": terminal, "request_id": rid}))


def _rolled_back(session: Session) -> None:
    session.info.pop("kiosk_began", None)
    session.info.pop("kiosk_audit", None)


__all__ = ["REDACTED", "JsonFormatter", "RedactFilter", "TextFormatter", "configure", "flush",
           "install_audit_lines", "new_request_id", "redact", "request_id", "stop"]
