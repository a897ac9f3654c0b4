"""Periodic clean-up that every terminal (and the mail worker) runs now and then, and
``kiosk housekeeping [--dry-run]``.

Each step is its own transaction (retention: one per batch of at most ``housekeeping_batch``
rows, sized to take about ``BATCH_SECONDS``, so no lock is held for long while terminals log
in) and is safe to run on many terminals at once: it only deletes or updates what is due, so a second run finds nothing left to do.

Retention (#16), from the settings (``KIOSK_RETENTION_*``):

========================  ==========================================================
kind                      removed when
========================  ==========================================================
``erased_accounts``       a scheduled account deletion's wait is over (services.privacy)
``audit_entries``         older than ``retention_audit_days``
``delivered_mails``       delivered longer ago than ``retention_outbox_days`` (a delivered
                          mail keeps no code or link anyway: ``mail.scrub_delivered`` at
                          delivery, migration 0009 for mails delivered before)
``ended_sessions``        ended (or expired) longer ago than ``retention_sessions_days``
``throttle_rows``         no failure for ``retention_throttle_days`` (frozen keys stay)
``finished_requests``     resolved/rejected longer ago than ``retention_requests_days``
``export_files``          files in the export directory older than ``retention_exports_hours``
========================  ==========================================================

Audit rows are deleted only through the window of migration 0009 (``_audit_batch``).
``AUDIT_PURGE_HOOKS`` is the one hook point for whoever derives counters from audit events
(ops-metrics): each hook gets the session and the ids about to go, inside the batch's own
transaction, before the delete, with the rows reserved for this run (no other terminal folds
the same rows) — fold them into a counter there and it never goes back.

Every run (not a dry run) ends with one audit event ``housekeeping.run`` whose ``counts``
detail holds the number per kind (no personal data); ``outcome`` is ``partial`` when a step
failed (its name is in ``failed``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session as DbSession

from db.models import (
    AuditEvent,
    AuditPurgeWindow,
    OutboxMail,
    RequestComment,
    Session,
    SupportRequest,
    Throttle,
)
from services import accounts, audit, mail, organisations, privacy, throttle
from services.backend import Backend
from services.errors import DomainError

log = logging.getLogger("kundenkiosk.housekeeping")

#: Called as ``hook(db, ids)`` in the transaction that deletes audit rows ``ids`` (see above).
AUDIT_PURGE_HOOKS: list[Callable[[DbSession, list[int]], None]] = []
FINISHED = ("resolved", "rejected")
RETENTION_KINDS = ("erased_accounts", "audit_entries", "delivered_mails", "ended_sessions",
                   "throttle_rows", "finished_requests", "export_files")


def _days(days: int) -> dt.timedelta:
    return dt.timedelta(days=days)


#: A batch should hold its transaction (and SQLite's write lock) about this long at most:
#: the batch size halves after a slower one and grows again after quick ones.
BATCH_SECONDS = 0.1
MIN_BATCH = 50
#: SQLite has one write lock and no queue: a terminal waiting for it polls (the busy handler)
#: at least every 100 ms. Without a pause, back-to-back batches would starve its login.
SQLITE_PAUSE = 0.1


def _batched(backend: Backend, query: Select[Any],
             remove: Callable[[DbSession, list[int]], Any], *, dry_run: bool,
             before: Callable[[DbSession], Callable[[], Any]] | None = None) -> int:
    """Select one batch of ids (``query``, ordered), remove them, commit; until none are
    left. Each batch is its own short transaction, at most ``housekeeping_batch`` rows and
    sized to take about ``BATCH_SECONDS`` on this machine under its current load. A dry run
    only counts.

    Terminals running this at the same time never take the same rows: PostgreSQL locks the
    batch (``FOR UPDATE SKIP LOCKED``); on SQLite ``before`` (which writes first, so the
    write lock is held before the batch is read) serialises the batches. ``before`` returns
    what to do at the end of the batch's transaction."""
    if dry_run:
        with backend.transaction() as db:
            return db.scalar(select(func.count()).select_from(
                query.order_by(None).subquery())) or 0
    largest = backend.settings.housekeeping_batch
    size = min(largest, 1000)
    total = 0
    while True:
        started = time.perf_counter()
        with backend.transaction() as db:
            after = before(db) if before is not None else None
            batch = query.limit(size)
            if not backend.is_sqlite:
                batch = batch.with_for_update(skip_locked=True)
            ids = list(db.scalars(batch))
            if ids:
                remove(db, ids)
            if after is not None:
                after()
        took = time.perf_counter() - started
        total += len(ids)
        if len(ids) < size:
            return total
        if backend.is_sqlite:
            time.sleep(SQLITE_PAUSE)
        if took > BATCH_SECONDS:
            size = max(MIN_BATCH, size // 2)
        elif took < BATCH_SECONDS / 3:
            size = min(largest, size * 2)


# --------------------------------------------------------------------------- the purges


def purge_audit(backend: Backend, *, dry_run: bool = False) -> int:
    """Audit entries older than ``retention_audit_days``, through the trigger's window."""
    cutoff = backend.now() - _days(backend.settings.retention_audit_days)
    # ordered by the indexed column: the batch is read from the index, never sorted
    query = select(AuditEvent.id).where(AuditEvent.at < cutoff).order_by(AuditEvent.at)

    def open_window(db: DbSession) -> Callable[[], Any]:
        # written first: on SQLite this takes the write lock before the batch is read
        window = AuditPurgeWindow(purge_before=cutoff)
        db.add(window)
        db.flush()
        return lambda: db.execute(delete(AuditPurgeWindow).where(
            AuditPurgeWindow.id == window.id))

    def remove(db: DbSession, ids: list[int]) -> None:
        for hook in AUDIT_PURGE_HOOKS:  # the rows are still there, and locked for this run
            hook(db, ids)
        db.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids), AuditEvent.at < cutoff))

    return _batched(backend, query, remove, dry_run=dry_run, before=open_window)


def purge_delivered_mails(backend: Backend, *, dry_run: bool = False) -> int:
    """Delivered mails older than ``retention_outbox_days``. (Their text, codes and links
    went at delivery, ``mail.scrub_delivered``; migration 0009 scrubbed older ones.)"""
    cutoff = backend.now() - _days(backend.settings.retention_outbox_days)
    query = select(OutboxMail.id).where(OutboxMail.sent_at < cutoff).order_by(OutboxMail.sent_at)
    return _batched(backend, query, lambda db, ids: db.execute(
        delete(OutboxMail).where(OutboxMail.id.in_(ids))), dry_run=dry_run)


def purge_sessions(backend: Backend, *, dry_run: bool = False) -> int:
    """Sessions ended (or past their absolute end) longer ago than the retention."""
    cutoff = backend.now() - _days(backend.settings.retention_sessions_days)
    query = select(Session.id).where(or_(
        Session.ended_at < cutoff,
        and_(Session.ended_at.is_(None), Session.absolute_expires_at < cutoff),
    )).order_by(Session.id)
    return _batched(backend, query, lambda db, ids: db.execute(
        delete(Session).where(Session.id.in_(ids))), dry_run=dry_run)


def purge_throttle(backend: Backend, *, dry_run: bool = False) -> int:
    older_than = _days(backend.settings.retention_throttle_days)
    if not dry_run:
        with backend.transaction() as db:
            return throttle.purge_stale(db, backend.now(), older_than)
    cutoff = backend.now() - older_than
    with backend.transaction() as db:
        return db.scalar(select(func.count()).select_from(Throttle).where(
            Throttle.frozen.is_(False),
            or_(Throttle.blocked_until.is_(None), Throttle.blocked_until < backend.now()),
            or_(Throttle.last_failure_at < cutoff,
                and_(Throttle.last_failure_at.is_(None), Throttle.window_start < cutoff)),
        )) or 0


def purge_requests(backend: Backend, *, dry_run: bool = False) -> int:
    """Support requests resolved or rejected longer ago than the retention, with comments.
    Requests a deletion record points at stay (the four-eyes trail)."""
    from db.models import AccountDeletion

    cutoff = backend.now() - _days(backend.settings.retention_requests_days)
    referenced = select(AccountDeletion.request_id).where(AccountDeletion.request_id.is_not(None))
    query = select(SupportRequest.id).where(
        SupportRequest.status.in_(FINISHED), SupportRequest.updated_at < cutoff,
        SupportRequest.id.not_in(referenced)).order_by(SupportRequest.id)

    def remove(db: DbSession, ids: list[int]) -> None:
        db.execute(delete(RequestComment).where(RequestComment.request_id.in_(ids)))
        db.execute(delete(SupportRequest).where(SupportRequest.id.in_(ids)))

    return _batched(backend, query, remove, dry_run=dry_run)


def purge_exports(backend: Backend, *, dry_run: bool = False) -> int:
    """Files in the export directory older than ``retention_exports_hours`` (by mtime)."""
    folder = backend.settings.resolved_export_dir
    cutoff = (backend.now() - dt.timedelta(hours=backend.settings.retention_exports_hours)
              ).timestamp()
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
            if not dry_run:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


RETENTION: dict[str, Callable[..., int]] = {
    "erased_accounts": privacy.erase_due,
    "audit_entries": purge_audit,
    "delivered_mails": purge_delivered_mails,
    "ended_sessions": purge_sessions,
    "throttle_rows": purge_throttle,
    "finished_requests": purge_requests,
    "export_files": purge_exports,
}


def apply_retention(backend: Backend, *, dry_run: bool = False
                    ) -> tuple[dict[str, int], list[str]]:
    """Every retention kind in turn; (counts per kind, kinds that failed)."""
    done: dict[str, int] = {}
    failed: list[str] = []
    for kind, step in RETENTION.items():
        try:
            done[kind] = step(backend, dry_run=dry_run)
        except (DomainError, OSError) as exc:
            log.warning("housekeeping step %s failed: %s", kind, type(exc).__name__)
            done[kind] = 0
            failed.append(kind)
    return done, failed


def run(backend: Backend, *, deliver_mail: bool | None = None, dry_run: bool = False,
        failed: list[str] | None = None) -> dict[str, int]:
    """Purge stale registrations, remind and expire organisation requests, apply the
    retention settings; deliver mail when SMTP is set. A dry run changes nothing and only
    counts what would go.

    Returns how many rows each step touched (for logs, tests and ``kiosk housekeeping``);
    the names of failed steps are appended to ``failed`` when given.
    """
    done: dict[str, int] = {}
    if not dry_run:
        done["unverified_accounts"] = accounts.purge_unverified(backend)
        requests = organisations.housekeeping(backend)
        done["organisation_reminders"] = requests.reminded
        done["organisation_expired"] = requests.expired
    retention, broken = apply_retention(backend, dry_run=dry_run)
    done.update(retention)
    if not dry_run and (deliver_mail if deliver_mail is not None
                        else bool(backend.settings.smtp_url)):
        sent, _failed = mail.deliver_pending(backend)
        done["mails_sent"] = sent
    if not dry_run:
        with backend.transaction() as db:
            audit.record(db, "housekeeping.run", outcome="partial" if broken else "ok",
                         terminal_id=backend.settings.terminal_id, counts=dict(done),
                         failed=broken or None, now=backend.now())
    if failed is not None:
        failed.extend(broken)
    return done


__all__ = ["AUDIT_PURGE_HOOKS", "RETENTION", "apply_retention", "purge_audit",
           "purge_delivered_mails", "purge_exports", "purge_requests", "purge_sessions",
           "purge_throttle", "run"]
