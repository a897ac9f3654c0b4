"""Guessing limits under parallel attempts (issue 20, item 1), between PROCESSES, on SQLite and
PostgreSQL.

Twenty worker processes, each with its own engine, session and terminal id, wait at one
``multiprocessing.Barrier`` and then try a wrong secret at the same moment, in every flow that
checks one: account login, customer-number login, linking a number by Freischaltcode (per
account, and at the record-wide alarm level), linking a contract, the merge proof. Because the
attempt is reserved before the secret is checked (``throttle.reserve``), exactly the limit's
number of checks is evaluated — counted from the audit log (``outcome="failed"`` is an
evaluated check, ``"throttled"``/``"locked"`` a refusal that never looked at the secret) and
from the counter rows — and the right secret afterwards is refused.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
import test_concurrency
from sqlalchemy import func, select
from test_concurrency import (
    CODE,
    CONTRACT,
    MERGE_KEEP,
    MERGE_OTHER,
    MERGE_PASSWORD,
    NUMBER,
    WORKERS,
    _outcome,
    _race,
    _worker_backend,
    customer_with_code,
    racers,
    sessions_of,
)
from welcome_helpers import make_customer

from db.models import Account, AuditEvent, Customer, CustomerLink, SupportRequest, Throttle
from services import accounts, contracts, customer_login, customer_numbers, merge, throttle
from services.backend import Backend
from services.caller import Caller
from services.demo import load_demo
from services.errors import Throttled

# The process pool and the real-clock backend of the other process races.
pool = test_concurrency.pool
real_backend = test_concurrency.real_backend

PASSWORD = "Kompass-Wattenmeer-Abend-77"
WRONG = "Falsches-Passwort-0000-xx"
USERNAME = "ziel.konto"
CUSTOMER = "555001"


def _attempt_worker(url: str, home: str, barrier: Any, flow: str, who: str, terminal: str,
                    secret: str) -> tuple[str, str, str]:
    """One attempt of ``flow`` with a wrong (or right) secret; ``who`` is the identifier or
    the session token."""
    backend = _worker_backend(url, home)
    caller = Caller(terminal_id=terminal)
    barrier.wait(timeout=60)
    calls = {
        "login": lambda: accounts.login(backend, who, secret, caller).account_id,
        "customer_login": lambda: customer_login.login(backend, who, secret, caller).number,
        "link_code": lambda: customer_numbers.link_customer_number(
            backend, who, secret, NUMBER, caller).number,
        "contract": lambda: contracts.link_contract(
            backend, who, {**CONTRACT, "birth_date": secret}, caller).number,
        "merge": lambda: merge.compare(backend, who, MERGE_KEEP, MERGE_OTHER, secret,
                                       caller).other_number,
    }
    return _outcome(calls[flow])


def _checks(backend: Backend, event: str) -> Counter[str]:
    """Audit outcomes of ``event``: "failed" = a secret checked and wrong."""
    with backend.transaction() as db:
        return Counter(db.scalars(select(AuditEvent.outcome).where(AuditEvent.event == event)))


def _counter(backend: Backend, action: str, scope: str) -> list[Throttle]:
    with backend.transaction() as db:
        return list(db.scalars(select(Throttle).where(Throttle.action == action,
                                                      Throttle.scope == scope)))


def _refused(results: list[tuple[str, str, str]], limit: int, *names: str) -> None:
    """``limit`` workers had their secret checked (and heard the neutral failure), every
    other one was refused before the check."""
    outcomes = Counter(name for _kind, name, _text in results)
    assert sum(outcomes[n] for n in names) == WORKERS - limit, results


def test_login_race_checks_five_passwords_at_most(pool, real_backend) -> None:
    with real_backend.transaction() as db:
        db.add(Account(username=USERNAME, username_key=USERNAME, email="ziel@example.org",
                       email_key="ziel@example.org", status="active", first_name="Ziel",
                       last_name="Konto", password_hash=real_backend.hasher.hash(PASSWORD)))
    results = _race(pool, _attempt_worker, real_backend,
                    [("login", USERNAME, f"race-{n}", WRONG) for n in range(WORKERS)])
    _refused(results, 5, "Throttled")
    assert Counter(name for _k, name, _t in results)["AuthFailed"] == 5
    assert _checks(real_backend, "login") == {"failed": 5, "throttled": WORKERS - 5}
    rows = _counter(real_backend, "login", "account")
    assert [r.failures for r in rows] == [5]
    # the terminals counted the five checked failures only
    assert sum(r.failures for r in _counter(real_backend, "login", "terminal")) == 5
    with pytest.raises(Throttled):  # the right password during the wait is refused
        accounts.login(real_backend, USERNAME, PASSWORD, Caller(terminal_id="owner"))


def test_customer_login_race_checks_five_passwords_at_most(pool, real_backend) -> None:
    make_customer(real_backend, CUSTOMER, last_name="Ziel", postal_code="34117",
                  password_hash=real_backend.hasher.hash(PASSWORD))
    results = _race(pool, _attempt_worker, real_backend,
                    [("customer_login", CUSTOMER, f"race-{n}", WRONG) for n in range(WORKERS)])
    _refused(results, 5, "Throttled")
    assert _checks(real_backend, "customer_login") == {"failed": 5, "throttled": WORKERS - 5}
    assert [r.failures for r in _counter(real_backend, "login", "customer")] == [5]
    with pytest.raises(Throttled):
        customer_login.login(real_backend, CUSTOMER, PASSWORD, Caller(terminal_id="owner"))


def test_link_code_race_of_one_account_checks_five_codes(pool, real_backend) -> None:
    """One account in 20 sessions at 20 terminals: five codes checked, then that account is
    frozen for the number — also with the right code."""
    customer_with_code(real_backend)
    holder = racers(real_backend, 1)[0]
    tokens = sessions_of(real_backend, [holder] * WORKERS)
    results = _race(pool, _attempt_worker, real_backend,
                    [("link_code", t, f"kiosk-{n}", "WRONG-CODE-000")
                     for n, t in enumerate(tokens)])
    # four neutral failures, the fifth check freezes; the other fifteen were never checked
    assert Counter(name for _k, name, _t in results) == {"LinkFailed": 4,
                                                         "CodeFrozen": WORKERS - 4}
    assert _checks(real_backend, "customer_link") == {"failed": 5, "throttled": WORKERS - 5}
    [mine] = _counter(real_backend, "link_code", "record_actor")
    assert mine.failures == 5 and mine.frozen
    with pytest.raises(customer_numbers.CodeFrozen):
        customer_numbers.link_customer_number(real_backend, tokens[0], CODE, NUMBER,
                                              Caller(terminal_id="kiosk-new"))


def test_link_code_race_at_the_alarm_level(pool, real_backend) -> None:
    """20 accounts at 20 terminals when the number is 5 short of its alarm level: five codes
    checked, one desk request, and then nobody's code is checked — the owner's right one
    included — until the desk lifts it."""
    customer_id = customer_with_code(real_backend)
    alarm = customer_numbers.ALARM_POLICY.max_failures
    with real_backend.transaction() as db:
        db.add(Throttle(action="link_code", scope="record", key=NUMBER, failures=alarm - 5,
                        window_start=real_backend.now(), last_failure_at=real_backend.now()))
    tokens = sessions_of(real_backend, racers(real_backend, WORKERS + 1))
    results = _race(pool, _attempt_worker, real_backend,
                    [("link_code", t, f"kiosk-{n}", "WRONG-CODE-000")
                     for n, t in enumerate(tokens[:WORKERS])])
    _refused(results, 5, "CodeFrozen")
    assert _checks(real_backend, "customer_link") == {"failed": 5, "throttled": WORKERS - 5}
    with real_backend.transaction() as db:
        requests = db.scalars(select(SupportRequest).where(
            SupportRequest.kind == throttle.KIND_ALARM)).all()
    assert len(requests) == 1 and requests[0].customer_id == customer_id
    assert requests[0].details["record"] == NUMBER and "WRONG" not in str(requests[0].details)
    with pytest.raises(customer_numbers.CodeFrozen) as refused:
        customer_numbers.link_customer_number(real_backend, tokens[WORKERS], CODE, NUMBER,
                                              Caller(terminal_id="owner-home"))
    assert refused.value.message == throttle.MSG_ALARM


def test_contract_race_of_one_account_checks_three_entries(pool, real_backend) -> None:
    load_demo(real_backend)
    holder = racers(real_backend, 1)[0]
    tokens = sessions_of(real_backend, [holder] * WORKERS)
    results = _race(pool, _attempt_worker, real_backend,
                    [("contract", t, f"kiosk-{n}", f"{1 + n % 28:02d}.01.1990")
                     for n, t in enumerate(tokens)])
    assert Counter(name for _k, name, _t in results) == {"ContractLinkFailed": 2,
                                                         "ContractBlocked": WORKERS - 2}
    assert _checks(real_backend, "contract_link") == {"failed": 3, "throttled": WORKERS - 3}
    with pytest.raises(contracts.ContractBlocked):  # the right data after the freeze
        contracts.link_contract(real_backend, tokens[0], CONTRACT, Caller(terminal_id="new"))
    with real_backend.transaction() as db:
        assert db.scalar(select(func.count()).select_from(CustomerLink)
                         .where(CustomerLink.account_id == holder)) == 0


def test_merge_proof_race_checks_five_proofs(pool, real_backend) -> None:
    load_demo(real_backend)
    with real_backend.transaction() as db:
        keep_id = db.scalar(select(Customer.id).where(Customer.number == MERGE_KEEP))
        holder = db.scalar(select(CustomerLink.account_id).where(
            CustomerLink.customer_id == keep_id))
    tokens = sessions_of(real_backend, [holder] * WORKERS)
    results = _race(pool, _attempt_worker, real_backend,
                    [("merge", t, f"kiosk-{n}", WRONG) for n, t in enumerate(tokens)])
    assert Counter(name for _k, name, _t in results) == {"AuthFailed": 4,
                                                         "Throttled": WORKERS - 4}
    assert _checks(real_backend, "merge_proof") == {"failed": 5, "throttled": WORKERS - 5}
    with pytest.raises(Throttled) as refused:  # the right password after the freeze
        merge.compare(real_backend, tokens[0], MERGE_KEEP, MERGE_OTHER, MERGE_PASSWORD,
                      Caller(terminal_id="new"))
    assert refused.value.message == merge.MSG_FROZEN


def test_a_reservation_survives_a_process_that_dies_during_the_check(real_backend) -> None:
    """The reservation commits before the check: an attempt whose process never reaches the
    outcome (killed during argon2) still counts."""
    limits = accounts.login_limits("kiosk-x", "a999")
    now = real_backend.now()
    with real_backend.transaction() as db:
        assert throttle.reserve(db, limits, now).granted
    # ... the process dies here: no outcome is ever written
    with real_backend.transaction() as db:
        state = throttle.check(db, "login", "account", "a999", throttle.LOGIN_ACCOUNT,
                               now + dt.timedelta(seconds=1))
    assert state.failures == 1
