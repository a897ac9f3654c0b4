"""Issue 20 on SQLite and PostgreSQL: a freeze that does not punish the owner (item 5),
usernames of the customer-number form (item 6) and the registration limit per terminal
(item 10). The process races of item 1 are in test_guessing_races.py, the answer times in
test_timing.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from pilot import agent_login
from sqlalchemy import select

from db.models import Account, AuditEvent, Customer, SupportRequest, Throttle
from services import (
    accounts,
    agents,
    backoffice,
    backoffice_actions,
    contracts,
    customer_login,
    customer_numbers,
    merge,
    sessions,
    throttle,
)
from services.caller import Caller
from services.demo import load_demo
from services.errors import AuthFailed, Throttled, ValidationFailed

PASSWORDS = {"amueller": "Sonnenblume-Kassel-2026", "eneu": "Regenbogen-Kiel-Wasser-2026",
             "lfuchs": "Bergwiese-Donau-Abend-2026", "kkoehler": "Praxisschild-Isar-Wolke-2026"}
MERGE_PASSWORD = "Leuchtturm-Sylt-Moewe-17"  # 200002's customer password in the demo
CONTRACT = {"number": "431177", "birth_date": "05.10.2000", "last_name": "Musterjobber",
            "postal_code": "34117"}
FORM = dict(type="private", email="neu@example.org", password="blauer Kaffeebecher am Fenster",
            password_confirm="blauer Kaffeebecher am Fenster", first_name="Nora",
            last_name="Neu", street="Hauptstr. 1", postal_code="34117", city="Kassel",
            country="DE", terms=True)


@pytest.fixture
def demo(backend):
    load_demo(backend)
    return backend


def login(backend, user: str, terminal: str) -> str:
    token = accounts.login(backend, user, PASSWORDS[user], Caller(terminal_id=terminal)).token
    sessions.reauthenticate(backend, token, PASSWORDS[user])
    return token


# --------------------------------------------------------------------------- item 5


def test_merge_proof_guesses_freeze_the_guesser_not_the_owner(demo) -> None:
    """eneu guesses 200002's customer password five times: eneu is frozen for 200002, even
    with the right password; amueller, who holds 200001 and knows 200002's password, still
    gets the comparison at another terminal."""
    attacker, kiosk = login(demo, "eneu", "kiosk-9"), Caller(terminal_id="kiosk-9")
    for _ in range(4):
        with pytest.raises(AuthFailed):
            merge.compare(demo, attacker, "100004", "200002", "geraten", kiosk)
    with pytest.raises(Throttled):
        merge.compare(demo, attacker, "100004", "200002", "geraten", kiosk)
    with pytest.raises(Throttled) as frozen:
        merge.compare(demo, attacker, "100004", "200002", MERGE_PASSWORD,
                      Caller(terminal_id="kiosk-10"))
    assert frozen.value.message == merge.MSG_FROZEN
    owner = login(demo, "amueller", "kiosk-1")
    result = merge.compare(demo, owner, "200001", "200002", MERGE_PASSWORD,
                           Caller(terminal_id="kiosk-1"))
    assert result.other_number == "200002"


def test_contract_alarm_level_opens_one_desk_request(demo) -> None:
    """Many accounts guessing one contract reach the alarm level: the contract is closed for
    everybody for the rest of the 24 h (the owner is told that the desk knows), and the desk
    has exactly one request in its ``guessing_alarm`` queue, without the guessed data."""
    alarm = contracts.ALARM_POLICY.max_failures
    with demo.transaction() as db:
        db.add(Throttle(action="contract_link", scope="record", key="431177",
                        failures=alarm - 2, window_start=demo.now(),
                        last_failure_at=demo.now()))
    for user, terminal in (("eneu", "kiosk-5"), ("lfuchs", "kiosk-6")):
        with pytest.raises(contracts.ContractLinkFailed):
            contracts.link_contract(demo, login(demo, user, terminal),
                                    {**CONTRACT, "birth_date": "01.01.1999"},
                                    Caller(terminal_id=terminal))
    owner = login(demo, "amueller", "owner-home")
    with pytest.raises(contracts.ContractBlocked) as closed:
        contracts.link_contract(demo, owner, CONTRACT, Caller(terminal_id="owner-home"))
    assert closed.value.message == throttle.MSG_ALARM and closed.value.params == {"hours": 24}
    with demo.transaction() as db:
        requests = db.scalars(select(SupportRequest).where(
            SupportRequest.kind == throttle.KIND_ALARM)).all()
        alarms = db.scalars(select(AuditEvent).where(
            AuditEvent.event == throttle.KIND_ALARM)).all()
    assert len(requests) == 1 and len(alarms) == 1
    assert requests[0].details["record"] == "431177" and "1999" not in str(requests[0].details)
    agent = _agent(demo)
    queued = backoffice.queue_items(demo, agent, throttle.KIND_ALARM)
    assert [item.id for item in queued] == [requests[0].id]


def _agent(backend) -> str:
    agents.create_agent(backend, "pruefer", "supervisor", "Schreibtisch-Lampe-Abend-99")
    return agent_login(backend, "pruefer", "Schreibtisch-Lampe-Abend-99",
                       Caller(terminal_id="desk")).token  # both steps (#15)


def test_desk_lifts_every_counter_of_a_number(demo) -> None:
    """The desk's "unfreeze" clears the number's counters for every account and terminal."""
    token = login(demo, "eneu", "kiosk-1")
    for _ in range(5):
        with pytest.raises((customer_numbers.LinkFailed, customer_numbers.CodeFrozen)):
            customer_numbers.link_customer_number(demo, token, "AAAA-BBBB", "100001",
                                                  Caller(terminal_id="kiosk-1"))
    agent = _agent(demo)
    with demo.transaction() as db:
        customer_id = db.scalar(select(Customer.id).where(Customer.number == "100001"))
    assert backoffice.customer_view(demo, agent, customer_id).code_frozen
    backoffice_actions.unfreeze_code(demo, agent, customer_id)
    assert not backoffice.customer_view(demo, agent, customer_id).code_frozen
    assert customer_numbers.link_customer_number(demo, token, "KVG4-MAXJ-7QRT", "100001",
                                                 Caller(terminal_id="kiosk-1")).number == "100001"


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize("username", ["200003", "2000-03", "1.234.567", " 200003 "])
def test_usernames_of_the_customer_number_form_are_refused(backend, username) -> None:
    with pytest.raises(ValidationFailed) as refused:
        accounts.register(backend, {**FORM, "username": username}, Caller())
    assert refused.value.fields["username"] == accounts.MSG_USERNAME_NUMBER
    with backend.transaction() as db:
        assert db.scalars(select(Account)).all() == []


def test_usernames_with_a_letter_are_fine(backend) -> None:
    accounts.register(backend, {**FORM, "username": "k200003"}, Caller())
    with backend.transaction() as db:
        assert db.scalars(select(Account.username)).all() == ["k200003"]


def test_an_all_digit_username_cannot_take_a_customers_login(demo) -> None:
    """An old account named like customer 200003 (written before the rule): the customer
    still logs in with the customer number, decided by the form without a lookup."""
    with demo.transaction() as db:
        db.add(Account(username="200003", username_key="200003", email="x@example.org",
                       email_key="x@example.org", status="unverified", first_name="X",
                       last_name="Y"))
    result = customer_login.login_any(demo, "200003", "Brezelkorb-Neckar-Turm-9",
                                      Caller(terminal_id="kiosk-1"))
    assert isinstance(result, customer_login.CustomerLoginResult) and result.number == "200003"


@given(username=st.text(alphabet="0123456789-._aZ", min_size=3, max_size=12))
@hyp_settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_accepted_username_goes_to_the_account_login(username) -> None:
    try:
        form = accounts.validate_registration({**FORM, "username": username})
    except ValidationFailed:
        return
    assert form.username and not customer_login.looks_like_customer_number(form.username)


# --------------------------------------------------------------------------- item 10


def test_registrations_are_limited_per_terminal(backend, clock) -> None:
    limit = accounts.REGISTER_TERMINAL.max_failures
    with backend.transaction() as db:
        db.add(Throttle(action="register", scope="terminal", key="kiosk-4",
                        failures=limit - 1, window_start=clock.now))
    kiosk = Caller(terminal_id="kiosk-4")
    accounts.register(backend, {**FORM, "username": "erste"}, kiosk)  # the last one allowed
    with pytest.raises(Throttled) as waited:  # "already taken" can no longer be asked either
        accounts.register(backend, {**FORM, "username": "erste", "email": "b@example.org"},
                          kiosk)
    assert waited.value.message == accounts.MSG_REGISTER_WAIT
    assert waited.value.params == {"minutes": 60}
    accounts.register(backend, {**FORM, "email": "c@example.org"}, Caller(terminal_id="other"))
    clock.advance(hours=1, seconds=1)
    accounts.register(backend, {**FORM, "email": "d@example.org"}, kiosk)
    with backend.transaction() as db:
        assert sorted(db.scalars(select(Account.email))) == [
            "c@example.org", "d@example.org", "neu@example.org"]


# --------------------------------------------------------------------------- migration 0010


def test_migration_0010_keeps_the_counters_in_force(tmp_path) -> None:
    """Counters written before the upgrade under the old scopes keep working: a number that
    was frozen stays closed (record-wide) until the desk lifts it."""
    from sqlalchemy import text

    from db.engine import make_engine
    from db.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0009")
    with engine.begin() as conn:
        for action, scope in (("link_code", "number"), ("contract_link", "contract"),
                              ("merge_proof", "number"), ("link_code", "account"),
                              ("login", "account")):
            conn.execute(text("INSERT INTO throttle (action, scope, key, failures, "
                              "window_start, frozen) VALUES (:a, :s, 'k', 5, "
                              "'2026-11-21 09:00:00', 1)"), {"a": action, "s": scope})
    upgrade(engine)
    with engine.connect() as conn:
        scopes = sorted(conn.execute(text("SELECT action, scope FROM throttle")).all())
    engine.dispose()
    assert scopes == [("contract_link", "record"), ("link_code", "actor"),
                      ("link_code", "record"), ("login", "account"), ("merge_proof", "record")]
