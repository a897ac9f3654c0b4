"""Installation-wide metrics, readiness and `kiosk status` (#17), on SQLite and PostgreSQL.

The counters are computed from the database; they are read here the way Prometheus reads
them: the exporter's text output parsed by prometheus-client's own parser.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, func, select, text

from db.models import AuditEvent, MetricCounter, OutboxMail, Throttle
from services import accounts, audit, customer_login, customer_numbers, mail, products, throttle
from services.backend import Backend
from services.caller import Caller
from services.demo import load_demo
from services.errors import DomainError
from services.metrics import (
    HOUSEKEEPING_EVENT,
    OUTCOMES,
    Exporter,
    readiness,
    status_report,
    status_text,
)

REPO = Path(__file__).resolve().parent.parent
CALLER = Caller(terminal_id="kiosk-7", language="de")
LF_PASSWORD = "Bergwiese-Donau-Abend-2026"
ERIKA_PASSWORD = "Regenbogen-Kiel-Wasser-2026"
NEW_PASSWORD = "Kirschblüte am Fluss im April 77"
ANNA_NUMBER_PASSWORD = "Gartenzwerg-Elbe-Kiesel-42"
#: Everything secret or personal the journey types or receives (tests grep for these).
JOURNEY_SECRETS = [LF_PASSWORD, ERIKA_PASSWORD, "erika.neu@example.de", NEW_PASSWORD, ANNA_NUMBER_PASSWORD, "KVG4-MAXJ-7QRT",
                   "MATH-E7KA-CDF4-9PQR", "lukas.fuchs@example.de", "mia.sommer@example.org",
                   "WRONG-CODE-000", "falsches Passwort 123"]


def scrape(backend: Backend, exporter: Exporter | None = None) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the exporter's text format."""
    payload = (exporter or Exporter(backend)).render().decode()
    return samples(payload)


def samples(payload: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(payload) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def journey(backend: Backend, caller: Caller = CALLER) -> dict[tuple[str, tuple], int]:
    """A scripted login/link/redeem journey on the demo data; returns what it did, as the
    counter series it should move."""
    done: dict[tuple[str, tuple], int] = {}

    def did(name: str, n: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        done[key] = done.get(key, 0) + n

    with pytest.raises(DomainError):
        accounts.login(backend, "lfuchs", "falsches Passwort 123", caller)
    did("kiosk_logins_total", method="account", outcome="failed")
    accounts.login(backend, "lfuchs", LF_PASSWORD, caller)
    did("kiosk_logins_total", method="account", outcome="ok")
    token = accounts.login(backend, "eneu", ERIKA_PASSWORD, caller).token
    did("kiosk_logins_total", method="account", outcome="ok")
    with pytest.raises(DomainError):
        customer_numbers.link_customer_number(backend, token, "WRONG-CODE-000", "100001", caller)
    did("kiosk_links_total", outcome="failed")
    customer_numbers.link_customer_number(backend, token, "KVG4-MAXJ-7QRT", "100001", caller)
    did("kiosk_links_total", outcome="ok")
    products.redeem_key(backend, token, "MATH-E7KA-CDF4-9PQR", caller)
    did("kiosk_redemptions_total", outcome="ok")
    customer_login.login(backend, "200001", ANNA_NUMBER_PASSWORD, caller)
    did("kiosk_logins_total", method="customer_number", outcome="ok")
    accounts.register(backend, {
        "type": "private", "username": "miasommer", "email": "mia.sommer@example.org",
        "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "salutation": "Frau",
        "first_name": "Mia", "last_name": "Sommer", "street": "Lindenweg 3",
        "postal_code": "34117", "city": "Kassel", "country": "DE", "customer_number": None,
        "terms": True, "marketing": False}, caller)
    did("kiosk_registrations_total", kind="account", outcome="ok")
    with backend.transaction() as db:
        code = [m for m in mail.outbox(db) if m.template == "verify_email"][-1].params["code"]
    accounts.verify_email(backend, "miasommer", code, caller)
    did("kiosk_confirmations_total", outcome="ok")
    accounts.login(backend, "miasommer", NEW_PASSWORD, caller)
    did("kiosk_logins_total", method="account", outcome="ok")
    return done


COUNTER_NAMES = ("kiosk_logins_total", "kiosk_links_total", "kiosk_redemptions_total",
                 "kiosk_registrations_total", "kiosk_confirmations_total",
                 "kiosk_contract_links_total", "kiosk_merges_total", "kiosk_throttle_hits_total",
                 "kiosk_lockouts_total")


def counter_series(found: dict) -> dict:
    return {k: v for k, v in found.items() if k[0] in COUNTER_NAMES}


def test_counters_equal_what_the_journey_did(backend) -> None:
    load_demo(backend)
    before = counter_series(scrape(backend))
    done = journey(backend)
    after = counter_series(scrape(backend))
    moved = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert moved == {k: float(v) for k, v in done.items()}
    found = scrape(backend)
    assert value(found, "kiosk_active_sessions") == 4  # lfuchs, eneu, 200001, miasommer
    assert value(found, "kiosk_ready") == 1  # database, schema and the key the journey made
    assert value(found, "kiosk_database_up") == 1 and value(found, "kiosk_schema_current") == 1


@pytest.fixture
def deletable_audit(backend: Backend) -> Iterator[Backend]:
    """What #16's retention does to the append-only log: deletes become possible (the shared
    PostgreSQL test database gets its guard back afterwards)."""
    with backend.engine.begin() as conn:
        if backend.is_sqlite:  # a copy of the template per test
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    yield backend
    if not backend.is_sqlite:
        with backend.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def test_counters_never_go_down_when_retention_purges(deletable_audit) -> None:
    backend = deletable_audit
    """Rows deleted from the audit log and the outbox (retention, #16) stay counted."""
    load_demo(backend)
    journey(backend)
    with backend.transaction() as db:
        db.add(OutboxMail(to="x@example.org", subject="s", body="b", template="t",
                          attempts=3, sent_at=backend.now()))   # 2 failures, then sent
        db.add(OutboxMail(to="y@example.org", subject="s", body="b", template="t",
                          attempts=2))                          # 2 failures, still pending
    before = counter_series(scrape(backend))
    mail_before = (value(scrape(backend), "kiosk_mail_delivery_attempts_total"),
                   value(scrape(backend), "kiosk_mail_delivery_failures_total"))
    assert mail_before == (5, 4)
    with backend.transaction() as db:
        purged = db.execute(delete(AuditEvent).where(AuditEvent.event.in_(
            ["login", "customer_linked", "licence_redeemed", "customer_link"]))).rowcount
        db.execute(delete(OutboxMail))
    assert purged >= 5
    after = scrape(backend)
    assert counter_series(after) == before
    assert (value(after, "kiosk_mail_delivery_attempts_total"),
            value(after, "kiosk_mail_delivery_failures_total")) == mail_before
    with backend.transaction() as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.event == "login")) == 0
        assert db.scalar(select(MetricCounter.value).where(
            MetricCounter.event == "login", MetricCounter.outcome == "ok")) == 3
    # and counting goes on from there
    accounts.login(backend, "lfuchs", LF_PASSWORD, CALLER)
    assert value(scrape(backend), "kiosk_logins_total", method="account", outcome="ok") == \
        before[("kiosk_logins_total", (("method", "account"), ("outcome", "ok")))] + 1


def test_second_factor_logins_are_counted_by_step(backend, clock) -> None:
    """A login with a second factor: the password step says ``needs_code`` (not ``other``),
    the code step counts under method ``second_factor``, failed and ok."""
    from services import second_factor

    load_demo(backend)
    secret = second_factor.new_secret()
    token = accounts.login(backend, "eneu", ERIKA_PASSWORD, CALLER).token
    second_factor.begin_enrolment(backend, token, secret=secret)
    second_factor.confirm_enrolment(backend, token, second_factor.code_at(secret, backend.now()),
                                    CALLER)
    before = scrape(backend)
    clock.advance(minutes=2)
    pending = accounts.login(backend, "eneu", ERIKA_PASSWORD, CALLER)
    wrong = "000000" if second_factor.code_at(secret, backend.now()) != "000000" else "111111"
    with pytest.raises(DomainError):
        second_factor.complete_login(backend, pending.token, wrong, CALLER)
    second_factor.complete_login(backend, pending.token,
                                 second_factor.code_at(secret, backend.now()), CALLER)
    after = scrape(backend)

    def moved(**labels: str) -> float:
        return value(after, "kiosk_logins_total", **labels) - value(
            before, "kiosk_logins_total", **labels)

    assert moved(method="account", outcome="needs_code") == 1
    assert moved(method="account", outcome="other") == 0
    assert moved(method="second_factor", outcome="failed") == 1
    assert moved(method="second_factor", outcome="ok") == 1


def test_no_label_carries_personal_data(backend) -> None:
    """Hostile outcomes and every record value of the journey: no label shows any of them."""
    load_demo(backend)
    journey(backend)
    with backend.transaction() as db:
        for outcome in ("mia.sommer@example.org", "100001", "Sommer"):
            audit.record(db, "login", outcome=outcome[:16], terminal_id="kiosk-7")
    found = scrape(backend)
    labels = {v for (_name, pairs) in found for _k, v in pairs}
    personal = [*JOURNEY_SECRETS, "100001", "200001", "Sommer", "miasommer", "lfuchs", "eneu",
                "kiosk-7", "mia.sommer@examp"]
    assert not [v for v in labels for p in personal if p.lower() in v.lower()]
    outcomes = {v for (_name, pairs) in found for k, v in pairs if k == "outcome"}
    assert outcomes <= OUTCOMES | {"other"} and "other" in outcomes
    assert value(found, "kiosk_logins_total", method="account", outcome="other") == 3


def test_gauges_outbox_queues_and_throttle_hits(backend, clock) -> None:
    load_demo(backend)
    clock.advance(minutes=12)
    found = scrape(backend)
    with backend.transaction() as db:
        pending = db.scalar(select(func.count()).select_from(OutboxMail)
                            .where(OutboxMail.sent_at.is_(None)))
        oldest = db.scalar(select(func.min(OutboxMail.created_at))
                           .where(OutboxMail.sent_at.is_(None)))
    assert value(found, "kiosk_outbox_pending") == pending
    if pending:
        assert value(found, "kiosk_outbox_oldest_pending_age_seconds") == pytest.approx(
            (clock() - oldest).total_seconds(), abs=1)
    queues = {dict(pairs)["queue"]: v for (name, pairs), v in found.items()
              if name == "kiosk_desk_queue_open"}
    assert "merge_blocked" in queues and all(v >= 0 for v in queues.values())
    for _ in range(6):  # the account's limit is 5: the 6th is throttled
        with pytest.raises(DomainError):
            accounts.login(backend, "lfuchs", "falsches Passwort 123", CALLER)
    found = scrape(backend)
    assert value(found, "kiosk_throttle_hits_total", kind="login") == 1
    assert value(found, "kiosk_logins_total", method="account", outcome="throttled") == 1
    assert value(found, "kiosk_logins_total", method="account", outcome="failed") == 5


def test_roundtrip_histogram_and_readiness(backend) -> None:
    exporter = Exporter(backend)
    backend.digester  # noqa: B018 - creates the key file
    state = exporter.readiness()
    assert state.ready and state.schema == state.head and state.roundtrip_seconds > 0
    found = scrape(backend, exporter)  # the histogram is read before this scrape's probe
    assert value(found, "kiosk_database_roundtrip_seconds_count") == 1
    assert value(found, "kiosk_ready") == 1
    found = scrape(backend, exporter)
    assert value(found, "kiosk_database_roundtrip_seconds_count") == 2
    assert 0 < value(found, "kiosk_database_roundtrip_seconds_sum") < 1


def test_readiness_reasons(tmp_path) -> None:
    from conftest import make_settings

    home = tmp_path / "home"
    home.mkdir()
    missing = Backend(make_settings(home), database_url=f"sqlite:///{tmp_path / 'none.db'}")
    state = readiness(missing)
    assert not state.ready and "database file does not exist" in state.reasons
    assert "secret key missing" in state.reasons
    assert not (tmp_path / "none.db").exists()  # the probe created nothing
    (tmp_path / "empty.db").touch()
    empty = Backend(make_settings(home), database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    state = readiness(empty)
    assert state.database and state.schema is None
    assert any(r.startswith("schema empty is not at head") for r in state.reasons)


def test_status_report_and_text(backend, clock) -> None:
    load_demo(backend)
    backend.digester  # noqa: B018
    for _ in range(6):
        with pytest.raises(DomainError):
            accounts.login(backend, "lfuchs", "falsches Passwort 123", CALLER)
    with backend.transaction() as db:
        audit.record(db, HOUSEKEEPING_EVENT, now=clock(), unverified_accounts=2, audit_rows=10)
    report = status_report(backend)
    assert report["ready"] and report["reasons"] == []
    assert report["last_housekeeping"]["counts"] == {"unverified_accounts": 2, "audit_rows": 10}
    assert report["throttled_terminals_last_hour"] == {"kiosk-7": 1}
    clock.advance(hours=2)
    assert status_report(backend)["throttled_terminals_last_hour"] == {}
    text_out = status_text(report)
    assert "READY" in text_out and "kiosk-7 (1)" in text_out and "last run" in text_out
    assert "merge_blocked" in text_out


def test_served_sessions_share_a_ceiling_per_source_address(backend, clock) -> None:
    """Two sessions of one address: each has its own terminal limit, the address's ceiling
    (``throttle.SOURCE_ADDRESS``) holds for both; another address is not affected."""
    first, second, other = "web-aaaaaaaaaaaa-01", "web-aaaaaaaaaaaa-02", "web-bbbbbbbbbbbb-01"
    now = clock()
    ceiling = throttle.SOURCE_ADDRESS.max_failures
    with backend.transaction() as db:
        for n in range(ceiling - 1):
            terminal = first if n % 2 else second
            throttle.fail(db, "login", "terminal", terminal, throttle.LOGIN_TERMINAL, now)
        assert throttle.check(db, "login", "terminal", first, throttle.LOGIN_TERMINAL,
                              now).allowed(now) is False  # its own 30 are used up already
        fresh = "web-aaaaaaaaaaaa-03"
        assert throttle.check(db, "login", "terminal", fresh, throttle.LOGIN_TERMINAL,
                              now).allowed(now)
        throttle.fail(db, "login", "terminal", fresh, throttle.LOGIN_TERMINAL, now)
        # the 100th failure from the address: a new session from it must wait too
        assert not throttle.check(db, "login", "terminal", "web-aaaaaaaaaaaa-04",
                                  throttle.LOGIN_TERMINAL, now).allowed(now)
        assert throttle.check_many(db, [("login", "terminal", "web-aaaaaaaaaaaa-05",
                                         throttle.LOGIN_TERMINAL)], now)[0].wait_seconds(now)
        assert throttle.check(db, "login", "terminal", other, throttle.LOGIN_TERMINAL,
                              now).allowed(now)
        # a kiosk's own terminal id is never folded into an address
        assert throttle.check(db, "login", "terminal", "kiosk-7", throttle.LOGIN_TERMINAL,
                              now).allowed(now)
        rows = db.scalars(select(Throttle).where(Throttle.scope == "address")).all()
    assert [(r.key, r.failures) for r in rows] == [("web-aaaaaaaaaaaa", ceiling)]
    later = now + dt.timedelta(minutes=16)
    with backend.transaction() as db:
        assert throttle.check(db, "login", "terminal", "web-aaaaaaaaaaaa-06",
                              throttle.LOGIN_TERMINAL, later).allowed(later)


def test_served_session_login_is_throttled_by_its_address(backend) -> None:
    """Through the real login: the address's ceiling makes a fresh session wait."""
    load_demo(backend)
    with backend.transaction() as db:
        for n in range(throttle.SOURCE_ADDRESS.max_failures):
            throttle.fail(db, "login", "address", "web-cccccccccccc", throttle.SOURCE_ADDRESS,
                          backend.now())
    fresh = Caller(terminal_id="web-cccccccccccc-9f9f9f9f", language="en")
    with pytest.raises(DomainError) as refused:
        accounts.login(backend, "lfuchs", LF_PASSWORD, fresh)
    assert refused.value.message == throttle.MSG_TERMINAL_WAIT
    # a session from another address logs in
    assert accounts.login(backend, "lfuchs", LF_PASSWORD,
                          Caller(terminal_id="web-dddddddddddd-01010101")).token


def _kiosk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_kiosk_status_command(tmp_path) -> None:
    env = {**os.environ, "KIOSK_HOME": str(tmp_path / "home"),
           "KIOSK_DATABASE_URL": f"sqlite:///{tmp_path / 'kiosk.db'}"}
    env.pop("KIOSK_SECRET_KEY", None)
    missing = _kiosk(env, "status", "--json")
    assert missing.returncode == 1, missing.stderr
    report = json.loads(missing.stdout)
    assert report["ready"] is False and "database file does not exist" in report["reasons"]
    assert _kiosk(env, "db", "upgrade").returncode == 0
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "secret.key").write_text("ab" * 32)
    ready = _kiosk(env, "status")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "Kundenkiosk status: READY" in ready.stdout and "housekeeping  never run" in ready.stdout
    report = json.loads(_kiosk(env, "status", "--json").stdout)
    assert report["ready"] and report["outbox"] == {"pending": 0,
                                                    "oldest_pending_age_seconds": 0}
    assert report["database_url"].startswith("sqlite:///")


def test_kiosk_status_hides_the_database_password(tmp_path) -> None:
    env = {**os.environ, "KIOSK_HOME": str(tmp_path / "home")}
    done = _kiosk(env, "status", "--json", "--db",
                  "postgresql://kiosk:s3cret-pw@127.0.0.1:1/kiosk")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert "s3cret-pw" not in done.stdout + done.stderr and "***" in report["database_url"]
    assert report["reasons"][0].startswith("database not reachable")
