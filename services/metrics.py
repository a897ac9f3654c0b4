"""Operations: readiness, installation-wide metrics and the console status (#17).

Where the counters come from
----------------------------
``kiosk serve`` runs one app process per browser session, tty kiosks run one process each, and
fifty terminals may share one PostgreSQL database. Counters kept in process memory (even
prometheus-client's multiprocess mode, which sums files of one host) would see one host at
best and lose a process's counts when it ends. Every flow already writes an audit event in the
transaction of what it did, so the counters are computed *from the database*: one grouped
count over ``audit_log`` (index ``event, outcome``) per scrape, plus the outbox for mail. That
is installation-wide, exact (a rolled-back flow counts nothing), costs the flows nothing
(no extra statement in their transactions, no hot counter row that fifty kiosks would queue
on) and any process — ``kiosk serve`` or ``kiosk metrics`` — serves the same figures.

Retention (#16) deletes old audit and outbox rows. So that a counter never goes down,
migration 0011 puts a delete trigger on both tables that adds what the deleted rows counted to
``metric_counter`` in the deleting transaction; a counter is *live rows + folded rows*, and a
purge moves counts from one to the other atomically. (``TRUNCATE`` bypasses the triggers.)

Process-local figures are only those that belong to one process: the database round-trip
histogram (measured by the readiness probe and each scrape) and ``kiosk serve``'s own
sessions. No label ever carries personal data: label values come from fixed vocabularies here
(an outcome that is not in ``OUTCOMES`` becomes ``other``), never from a record.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from db.migrate import newest_revision_file
from db.models import AuditEvent, MetricCounter, OutboxMail
from db.models import Session as SessionRow
from services.backend import Backend

#: The newest audit event of this name is the last housekeeping run (written by #16).
HOUSEKEEPING_EVENT = "housekeeping.run"

#: Every outcome a label may show; anything else is counted as ``other``.
OUTCOMES = frozenset({
    "ok", "failed", "throttled", "locked", "unverified", "duplicate", "conflict", "frozen",
    "unknown", "taken", "expired", "already_yours", "invalid", "withdrawn", "done",
    "proof_failed", "reversed", "attempt",
    # the password step of an account with a second factor: right password, code asked next
    # (needs_code) or enrolment first (needs_enrol, agents); a login during a deletion's wait
    "needs_code", "needs_enrol", "deletion_pending",
})


@dataclass(frozen=True)
class Source:
    """Which audit events a counter counts: ``event`` with its outcome (or a fixed one)."""

    metric: str
    event: str
    labels: tuple[tuple[str, str], ...] = ()
    outcome: str | None = None  # None: the event's own outcome


#: name -> (help, label names). Exposed as ``kiosk_<name>_total``.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "logins": ("Logins by method (account: the password step; second_factor: the code step "
               "after it, decoys after a wrong password included; customer_number) and outcome.",
               ("method", "outcome")),
    "registrations": ("Registrations by kind (account, organisation) and outcome.",
                      ("kind", "outcome")),
    "confirmations": ("E-mail confirmations by outcome.", ("outcome",)),
    "links": ("Customer numbers linked to an account, by outcome.", ("outcome",)),
    "redemptions": ("Licence key redemptions by outcome.", ("outcome",)),
    "contract_links": ("Contracts linked to an account, by outcome.", ("outcome",)),
    "merges": ("Merges of customer numbers by outcome.", ("outcome",)),
    "throttle_hits": ("Attempts refused by a guessing limit, by kind.", ("kind",)),
    "lockouts": ("Accounts locked and codes or contracts frozen, by kind.", ("kind",)),
    "mail_delivery_attempts": ("Mail delivery attempts.", ()),
    "mail_delivery_failures": ("Mail delivery attempts that failed.", ()),
}

SOURCES = (
    Source("logins", "login", (("method", "account"),)),
    Source("logins", "customer_login", (("method", "customer_number"),)),
    Source("logins", "login_second_factor", (("method", "second_factor"),)),
    Source("registrations", "registration", (("kind", "account"),)),
    Source("registrations", "org_registration", (("kind", "organisation"),)),
    Source("confirmations", "email_verification"),
    Source("links", "customer_linked", outcome="ok"),
    Source("links", "customer_link"),
    Source("redemptions", "licence_redeemed", outcome="ok"),
    Source("redemptions", "licence_redeem"),
    Source("contract_links", "contract_linked", outcome="ok"),
    Source("contract_links", "contract_link"),
    Source("merges", "merge_order", outcome="done"),
    Source("merges", "merge_proof", outcome="proof_failed"),
    Source("merges", "merge_reversed", outcome="reversed"),
    Source("lockouts", "account_locked", (("kind", "account"),)),
    Source("lockouts", "activation_code_frozen", (("kind", "activation_code"),)),
    Source("lockouts", "contract_link_blocked", (("kind", "contract"),)),
)

#: Events whose outcome ``throttled`` is a throttle hit, and the kind it is shown as.
THROTTLE_KINDS = {
    "login": "login", "customer_login": "customer_login", "reauth": "reauth",
    "login_second_factor": "second_factor",
    "password_reset_request": "password_reset", "licence_redeem": "licence_key",
    "customer_link": "activation_code", "contract_link": "contract", "merge_proof": "merge",
    "org_register_check": "organisation", "org_code": "organisation", "registration":
    "registration",
}

MAIL_EVENT = "mail_delivery"  # the outbox rows folded by the trigger of migration 0011


def _outcome(source: Source, outcome: str) -> str:
    value = source.outcome if source.outcome is not None else outcome
    return value if value in OUTCOMES else "other"


def event_counts(db: Session) -> dict[tuple[str, str], int]:
    """(event, outcome) -> how many, live audit rows plus those folded by retention."""
    counted = {s.event for s in SOURCES} | set(THROTTLE_KINDS)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for event, outcome, count in db.execute(
            select(AuditEvent.event, AuditEvent.outcome, func.count())
            .where(AuditEvent.event.in_(sorted(counted)))
            .group_by(AuditEvent.event, AuditEvent.outcome)):
        totals[(event, outcome)] += count
    for row in db.scalars(select(MetricCounter)):
        totals[(row.event, row.outcome)] += row.value
    return dict(totals)


def counters(db: Session) -> dict[str, dict[tuple[str, ...], int]]:
    """Every counter of ``COUNTERS`` as {label values: value}, all series present at 0."""
    counts = event_counts(db)
    result: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in COUNTERS}

    def add(name: str, labels: dict[str, str], value: int) -> None:
        key = tuple(labels[n] for n in COUNTERS[name][1])
        result[name][key] = result[name].get(key, 0) + value

    by_event: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (event, outcome), value in counts.items():
        by_event[event].append((outcome, value))
    for source in SOURCES:
        names = COUNTERS[source.metric][1]
        fixed = dict(source.labels)
        if "outcome" in names:
            add(source.metric, {**fixed, "outcome": _outcome(source, "ok")}, 0)
        else:
            add(source.metric, fixed, 0)
        for outcome, value in by_event.get(source.event, []):
            labels = dict(fixed)
            if "outcome" in names:
                labels["outcome"] = _outcome(source, outcome)
            add(source.metric, labels, value)
    for event, kind in THROTTLE_KINDS.items():
        add("throttle_hits", {"kind": kind}, counts.get((event, "throttled"), 0))

    attempts, failures = _mail_live(db)
    add("mail_delivery_attempts", {}, attempts + counts.get((MAIL_EVENT, "attempt"), 0))
    add("mail_delivery_failures", {}, failures + counts.get((MAIL_EVENT, "failed"), 0))
    return result


def _mail_live(db: Session) -> tuple[int, int]:
    attempts, sent = db.execute(select(
        func.coalesce(func.sum(OutboxMail.attempts), 0),
        func.count(OutboxMail.sent_at))).one()
    return int(attempts), int(attempts) - int(sent)


# --------------------------------------------------------------------------- gauges


@dataclass
class Gauges:
    outbox_pending: int = 0
    outbox_oldest_pending_age: float = 0.0
    active_sessions: int = 0
    desk_queues: dict[str, int] = field(default_factory=dict)


def gauges(db: Session, now: dt.datetime) -> Gauges:
    from services.backoffice import open_queue_counts

    pending, oldest = db.execute(select(func.count(), func.min(OutboxMail.created_at))
                                 .where(OutboxMail.sent_at.is_(None))).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    active = 0
    for last_seen, idle in db.execute(
            select(SessionRow.last_seen_at, SessionRow.idle_timeout_s)
            .where(SessionRow.ended_at.is_(None), SessionRow.absolute_expires_at > now)):
        if last_seen + dt.timedelta(seconds=idle) > now:
            active += 1
    return Gauges(
        outbox_pending=int(pending),
        outbox_oldest_pending_age=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        active_sessions=active,
        desk_queues=open_queue_counts(db, now),
    )


# --------------------------------------------------------------------------- readiness


@dataclass
class Readiness:
    """What ``/readyz`` and ``kiosk status`` report; ``reasons`` say what is not ready."""

    database: bool = False
    schema: str | None = None
    head: str = ""
    secret_key: bool = False
    roundtrip_seconds: float | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "database": self.database, "schema": self.schema,
                "head": self.head, "secret_key": self.secret_key,
                "reasons": list(self.reasons)}


def secret_key_present(backend: Backend) -> bool:
    """The installation's key is configured or its file is readable (never created here)."""
    if backend.settings.secret_key:
        return True
    path = backend.settings.resolved_secret_key_file
    return path.is_file() and os.access(path, os.R_OK)


def readiness(backend: Backend) -> Readiness:
    """One round trip to the database (the schema revision), the revision, the secret key."""
    state = Readiness(head=newest_revision_file(), secret_key=secret_key_present(backend))
    url = backend.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not os.path.exists(url.database):
        state.reasons.append("database file does not exist")
    else:
        try:
            started = time.perf_counter()
            with backend.engine.connect() as conn:
                try:
                    state.schema = conn.execute(
                        text("SELECT version_num FROM alembic_version")).scalar()
                except DBAPIError as exc:  # no table yet: an empty database
                    if "alembic_version" not in str(exc.orig):
                        raise
            state.roundtrip_seconds = time.perf_counter() - started
            state.database = True
        except Exception as exc:  # noqa: BLE001 - any failure means: not reachable
            state.reasons.append(f"database not reachable ({type(exc).__name__})")
    if state.database and state.schema != state.head:
        state.reasons.append(f"schema {state.schema or 'empty'} is not at head {state.head}")
    if not state.secret_key:
        state.reasons.append("secret key missing")
    return state


# --------------------------------------------------------------------------- status


def status_report(backend: Backend) -> dict[str, Any]:
    """What ``kiosk status`` shows a person at the console (and prints with ``--json``)."""
    state = readiness(backend)
    report: dict[str, Any] = {
        "database_url": backend.engine.url.render_as_string(hide_password=True),
        **state.as_json(),
    }
    if not state.database:
        return report
    now = backend.now()
    try:
        with backend.transaction() as db:
            numbers = gauges(db, now)
            last = db.scalars(select(AuditEvent).where(AuditEvent.event == HOUSEKEEPING_EVENT)
                              .order_by(AuditEvent.id.desc()).limit(1)).first()
            since = now - dt.timedelta(hours=1)
            throttled = dict(db.execute(
                select(AuditEvent.terminal_id, func.count())
                .where(AuditEvent.outcome == "throttled", AuditEvent.at >= since)
                .group_by(AuditEvent.terminal_id)).all())
    except Exception as exc:  # noqa: BLE001 - e.g. the schema is behind
        report["reasons"] = [*report["reasons"], f"figures not readable ({type(exc).__name__})"]
        report["ready"] = False
        return report
    report.update(
        outbox={"pending": numbers.outbox_pending,
                "oldest_pending_age_seconds": round(numbers.outbox_oldest_pending_age)},
        queues=numbers.desk_queues,
        active_sessions=numbers.active_sessions,
        last_housekeeping=None if last is None else {
            "at": last.at.isoformat(), "outcome": last.outcome, "counts": last.details},
        throttled_terminals_last_hour={str(k or "?"): v for k, v in sorted(
            throttled.items(), key=lambda kv: str(kv[0]))},
    )
    return report


def status_text(report: dict[str, Any]) -> str:
    """``status_report`` as one screen of text."""
    lines = [f"Kundenkiosk status: {'READY' if report['ready'] else 'NOT READY'}",
             f"  database      {report['database_url']} "
             f"({'reachable' if report['database'] else 'NOT reachable'})",
             f"  schema        {report['schema'] or 'empty'} (head {report['head']})",
             f"  secret key    {'present' if report['secret_key'] else 'MISSING'}"]
    lines += [f"  problem       {reason}" for reason in report["reasons"]]
    if "outbox" in report:
        outbox = report["outbox"]
        lines.append(f"  outbox        {outbox['pending']} pending, oldest "
                     f"{_age(outbox['oldest_pending_age_seconds'])}")
        lines.append(f"  sessions      {report['active_sessions']} active")
        lines.append("  desk queues   " + ", ".join(
            f"{name} {count}" for name, count in report["queues"].items()))
        last = report["last_housekeeping"]
        lines.append("  housekeeping  " + ("never run" if last is None else
                                           f"last run {last['at']} ({last['outcome']})"))
        throttled = report["throttled_terminals_last_hour"]
        lines.append(f"  throttled     {len(throttled)} terminal(s) in the last hour"
                     + (": " + ", ".join(f"{k} ({v})" for k, v in throttled.items())
                        if throttled else ""))
    return "\n".join(lines)


def _age(seconds: float) -> str:
    if not seconds:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


# --------------------------------------------------------------------------- Prometheus


class Exporter:
    """The Prometheus registry of one process: database figures computed at each scrape,
    the round-trip histogram, and whatever the process adds (``kiosk serve``'s sessions)."""

    def __init__(self, backend: Backend) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.backend = backend
        self.registry = CollectorRegistry(auto_describe=False)
        self.roundtrip = Histogram(
            "kiosk_database_roundtrip_seconds", "Database round-trip time (readiness probe).",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry)
        self.registry.register(_DatabaseCollector(self))

    def readiness(self) -> Readiness:
        state = readiness(self.backend)
        if state.roundtrip_seconds is not None:
            self.roundtrip.observe(state.roundtrip_seconds)
        return state

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _DatabaseCollector:
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        state = self.exporter.readiness()
        yield _gauge("kiosk_ready", "1 when /readyz answers 200.", state.ready)
        yield _gauge("kiosk_database_up", "1 when the database answered.", state.database)
        yield _gauge("kiosk_schema_current", "1 when the schema is at head.",
                     state.database and state.schema == state.head)
        if not state.database or state.schema != state.head:
            return
        backend = self.exporter.backend
        try:
            with backend.transaction() as db:
                values = counters(db)
                numbers = gauges(db, backend.now())
        except Exception:  # noqa: BLE001 - the database went away mid-scrape
            return
        for name, (help_text, label_names) in COUNTERS.items():
            family = CounterMetricFamily(f"kiosk_{name}", help_text, labels=list(label_names))
            for labels, value in sorted(values[name].items()):
                family.add_metric(list(labels), value)
            yield family
        yield GaugeMetricFamily("kiosk_outbox_pending", "Mails waiting in the outbox.",
                                value=numbers.outbox_pending)
        yield GaugeMetricFamily("kiosk_outbox_oldest_pending_age_seconds",
                                "Age of the oldest mail waiting (0 when none).",
                                value=numbers.outbox_oldest_pending_age)
        yield GaugeMetricFamily("kiosk_active_sessions", "Sessions logged in and not expired.",
                                value=numbers.active_sessions)
        queues = GaugeMetricFamily("kiosk_desk_queue_open", "Open requests per desk queue.",
                                   labels=["queue"])
        for queue, count in numbers.desk_queues.items():
            queues.add_metric([queue], count)
        yield queues


def _gauge(name: str, help_text: str, value: bool) -> Any:
    from prometheus_client.core import GaugeMetricFamily

    return GaugeMetricFamily(name, help_text, value=1 if value else 0)


__all__ = ["COUNTERS", "HOUSEKEEPING_EVENT", "OUTCOMES", "Exporter", "Readiness", "counters",
           "event_counts", "gauges", "readiness", "status_report", "status_text"]
