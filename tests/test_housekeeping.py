"""Housekeeping: stale registrations and guessing counters go, frozen keys stay; mail is
delivered when asked; the retention settings purge only what is older than them (#16), in
batches, and every run leaves one ``housekeeping.run`` audit event."""

from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import func, select
from test_accounts import CALLER, form
from test_mail import smtp_server  # noqa: F401, F811 - the fixture

from db.models import (
    Account,
    AuditEvent,
    OutboxMail,
    RequestComment,
    Session,
    SupportRequest,
    Throttle,
)
from services import accounts, audit, housekeeping, mail, throttle
from services.throttle import LOGIN_ACCOUNT, Policy

RETENTION_ZERO = dict.fromkeys(housekeeping.RETENTION_KINDS, 0)


def test_run_purges_what_is_due_and_nothing_else(backend, clock):
    accounts.register(backend, form(), CALLER)
    with backend.transaction() as db:
        throttle.fail(db, "login", "account", "a999", LOGIN_ACCOUNT, clock())
        throttle.fail(db, "link_code", "number", "100001",
                      Policy(max_failures=1, freeze_after=1), clock())
    assert housekeeping.run(backend, deliver_mail=False) == {
        "unverified_accounts": 0, "organisation_reminders": 0,
        "organisation_expired": 0, **RETENTION_ZERO}
    clock.advance(days=31)
    done = housekeeping.run(backend, deliver_mail=False)
    # the login counter of a999 and the terminal's registration counter (#20 item 10) go;
    # the frozen link_code counter stays
    assert (done["unverified_accounts"], done["throttle_rows"]) == (1, 2)
    with backend.transaction() as db:
        assert db.scalar(select(func.count()).select_from(Account)) == 0
        assert list(db.scalars(select(Throttle.key))) == ["100001"]  # frozen: desk only
    assert housekeeping.run(backend, deliver_mail=False)["throttle_rows"] == 0


def _count(backend, model, *where):
    with backend.transaction() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def test_retention_purges_only_what_is_older_than_each_setting(backend, clock):
    backend.settings.housekeeping_batch = 3  # several batches per kind
    now = clock()
    s = backend.settings
    old = {"audit": now - dt.timedelta(days=s.retention_audit_days, seconds=1),
           "outbox": now - dt.timedelta(days=s.retention_outbox_days, seconds=1),
           "session": now - dt.timedelta(days=s.retention_sessions_days, seconds=1),
           "request": now - dt.timedelta(days=s.retention_requests_days, seconds=1)}
    young = now - dt.timedelta(days=1)
    with backend.transaction() as db:
        for at in [old["audit"]] * 7 + [young] * 2:
            audit.record(db, "login", actor_id=1, now=at)
        for sent in [old["outbox"]] * 5 + [young, None]:
            db.add(OutboxMail(to="a@example.com", subject="s", body="Code 1234", template="t",
                              params={"code": "1234"}, sent_at=sent,
                              created_at=sent or now))
        for ended in [old["session"]] * 4 + [young, None]:
            db.add(Session(token_digest=f"d{ended}{os.urandom(4).hex()}", account_id=None,
                           idle_timeout_s=60, absolute_expires_at=now + dt.timedelta(hours=1),
                           created_at=young, last_seen_at=young, ended_at=ended))
        for status, updated in [("resolved", old["request"]), ("rejected", old["request"]),
                                ("open", old["request"]), ("resolved", young)]:
            request = SupportRequest(kind="address_review", status=status, updated_at=updated,
                                     created_at=updated)
            db.add(request)
            db.flush()
            db.add(RequestComment(request_id=request.id, body="x"))
    folder = s.resolved_export_dir
    folder.mkdir(parents=True)
    stale, fresh = folder / "old.pdf", folder / "new.pdf"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    past = (now - dt.timedelta(hours=s.retention_exports_hours, seconds=1)).timestamp()
    os.utime(stale, (past, past))
    os.utime(fresh, (now.timestamp(), now.timestamp()))

    planned = housekeeping.run(backend, deliver_mail=False, dry_run=True)
    expected = {"audit_entries": 7, "delivered_mails": 5, "ended_sessions": 4,
                "finished_requests": 2, "export_files": 1}
    assert {k: planned[k] for k in expected} == expected
    assert _count(backend, AuditEvent) == 9 and stale.exists()  # a dry run changes nothing

    done = housekeeping.run(backend, deliver_mail=False)
    assert {k: done[k] for k in expected} == expected
    assert _count(backend, AuditEvent, AuditEvent.event == "login") == 2
    assert _count(backend, OutboxMail) == 2 and _count(backend, Session) == 2
    assert _count(backend, SupportRequest) == 2 and _count(backend, RequestComment) == 2
    assert not stale.exists() and fresh.exists()
    with backend.transaction() as db:
        kept = {m.sent_at is None for m in db.scalars(select(OutboxMail))}
        assert kept == {True, False}  # the young delivered one and the pending one
        run = db.scalars(select(AuditEvent).where(AuditEvent.event == "housekeeping.run")).one()
    assert run.outcome == "ok" and run.details["counts"]["audit_entries"] == 7
    assert housekeeping.run(backend, deliver_mail=False)["audit_entries"] == 0


def test_audit_purge_hook_sees_the_ids_in_the_same_transaction(backend, clock):
    seen: list[int] = []

    def hook(db, ids):
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.id.in_(ids))) == len(ids)
        seen.extend(ids)

    with backend.transaction() as db:
        audit.record(db, "login", now=clock() - dt.timedelta(days=800))
    housekeeping.AUDIT_PURGE_HOOKS.append(hook)
    try:
        assert housekeeping.purge_audit(backend) == 1
    finally:
        housekeeping.AUDIT_PURGE_HOOKS.remove(hook)
    assert len(seen) == 1


def test_a_delivered_mail_keeps_no_code_link_or_attachment(backend, smtp_server):  # noqa: F811
    controller, handler = smtp_server
    accounts.register(backend, form(), CALLER)  # the confirmation mail: a code and a link
    with backend.transaction() as db:
        mail.enqueue(db, to="a@example.org", template="data_export",
                     params={"name": "A", "date": "1.1.2027"}, attachment=("x.zip", b"PK"))
        code = db.scalars(select(OutboxMail.params)).first()["code"]
    backend.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    assert mail.deliver_pending(backend) == (2, 0)
    assert code in handler.messages[0].get_payload()  # the customer got it ...
    with backend.transaction() as db:
        rows = list(db.scalars(select(OutboxMail)))
    for row in rows:  # ... the database keeps none of it
        assert (row.body, row.params, row.attachment) == (mail.DELIVERED_BODY, {}, None)
        assert row.subject and row.to and row.sent_at


def test_cli_prints_per_kind_and_fails_without_a_database(tmp_path, monkeypatch, capsys):
    from tui.cli import main

    monkeypatch.setenv("KIOSK_HOME", str(tmp_path))
    url = f"sqlite:///{tmp_path}/kiosk.db"
    assert main(["housekeeping", "--dry-run", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "audit_entries: 0" in out and "would remove 0 item(s)" in out
    assert main(["housekeeping", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "export_files: 0" in out and "housekeeping removed" in out
    assert main(["housekeeping", "--db", "postgresql://nobody@127.0.0.1:9/none"]) == 2
    assert "kiosk:" in capsys.readouterr().err
