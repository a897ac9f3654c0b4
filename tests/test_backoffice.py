"""Back office services (#9) on SQLite and PostgreSQL: role checks (object-level
authorisation), search, customer view, queues, actions, dashboard, query plans."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pilot import DEMO_PASSWORDS, agent_login, login_token
from sqlalchemy import select, text

from db.models import (
    Account,
    ActivationCode,
    Customer,
    CustomerLink,
    Membership,
    OutboxMail,
    Session,
    SupportRequest,
    Throttle,
)
from services import (
    accounts,
    backoffice,
    backoffice_actions,
    customer_numbers,
    second_factor,
    throttle,
)
from services.agents import create_agent
from services.caller import Caller
from services.demo import load_demo
from services.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from services.sessions import SessionExpired

AGENT_PW = "Schreibtisch-Kaffee-Leuchte-77"
SUPER_PW = "Aktenschrank-Morgen-Fenster-88"


def agent_token(backend, role: str = "agent", name: str | None = None) -> str:
    name = name or f"desk_{role}"
    create_agent(backend, name, role, AGENT_PW if role == "agent" else SUPER_PW)
    return agent_login(backend, name, AGENT_PW if role == "agent" else SUPER_PW).token


@pytest.fixture
def demo(backend):
    load_demo(backend)
    return backend


def cid(backend, number: str) -> int:
    with backend.transaction() as db:
        return db.scalar(select(Customer.id).where(Customer.number == number))


def aid(backend, username: str) -> int:
    with backend.transaction() as db:
        return db.scalar(select(Account.id).where(Account.username == username))


# --------------------------------------------------------------------------- authorisation


def test_customer_token_is_refused_everywhere(demo):
    """A customer session reaches no back-office function (nor another customer's data)."""
    token = login_token(demo, "amueller")
    other = cid(demo, "100005")  # lfuchs's number
    account = aid(demo, "lfuchs")
    calls = [
        lambda: backoffice.search(demo, token, "100"),
        lambda: backoffice.customer_view(demo, token, other),
        lambda: backoffice.account_view(demo, token, account),
        lambda: backoffice.queue_counts(demo, token),
        lambda: backoffice.queue_items(demo, token, "address_review"),
        lambda: backoffice.dashboard(demo, token),
        lambda: backoffice.find_number(demo, token, "100005"),
        lambda: backoffice_actions.issue_activation_code(demo, token, other),
        lambda: backoffice_actions.unfreeze_code(demo, token, other),
        lambda: backoffice_actions.unlock_account(demo, token, account),
        lambda: backoffice_actions.resend_confirmation(demo, token, account),
        lambda: backoffice_actions.start_password_reset(demo, token, account),
        lambda: backoffice_actions.end_sessions(demo, token, account),
        lambda: backoffice_actions.reassign_number(demo, token, other, aid(demo, "amueller")),
        lambda: backoffice_actions.reverse_merge(demo, token, 1),
    ]
    for call in calls:
        with pytest.raises(NotAllowed):
            call()
    with demo.transaction() as db:
        assert db.scalar(select(CustomerLink.account_id).where(
            CustomerLink.customer_id == other)) == account


def test_no_token_or_ended_session_is_refused(demo):
    with pytest.raises(SessionExpired):
        backoffice.search(demo, None, "100")
    token = agent_token(demo)
    accounts.logout(demo, token)
    with pytest.raises(SessionExpired):
        backoffice.queue_counts(demo, token)


def test_agent_session_timeouts(demo, clock):
    """Agents: idle 15 minutes, absolute 8 hours."""
    token = agent_token(demo)
    clock.advance(minutes=14)
    backoffice.queue_counts(demo, token)
    clock.advance(minutes=16)
    with pytest.raises(SessionExpired):
        backoffice.queue_counts(demo, token)
    token = agent_login(demo, "desk_agent", AGENT_PW).token
    for step in range(1, 40):  # active every 14 minutes, up to 9 hours
        clock.advance(minutes=14)
        try:
            backoffice.queue_counts(demo, token)
        except SessionExpired:
            assert step == 35  # 8 h 10 min: over 8 hours, the last call at 7 h 56 min
            break
    else:
        pytest.fail("the session outlived 8 hours")
    with demo.transaction() as db:
        assert "absolute" in db.scalars(select(Session.ended_reason)).all()


def test_customers_cannot_log_in_as_agents(demo):
    from services.errors import AuthFailed

    # the desk login goes on to the code step whatever the password (#15); no code opens it
    pending = accounts.login_agent(demo, "amueller", DEMO_PASSWORDS["amueller"], Caller())
    assert pending.second_factor == "code" and pending.account_id == 0
    with pytest.raises(AuthFailed):
        second_factor.complete_login(demo, pending.token, "123456", Caller())


def test_supervisor_actions_need_the_role(demo):
    token = agent_token(demo)
    customer = cid(demo, "100005")
    with pytest.raises(NotAllowed):
        backoffice_actions.reassign_number(demo, token, customer, aid(demo, "eneu"))
    with pytest.raises(NotAllowed):
        backoffice_actions.reverse_merge(demo, token, 1)
    with demo.transaction() as db:
        assert db.scalar(select(CustomerLink.account_id).where(
            CustomerLink.customer_id == customer)) == aid(demo, "lfuchs")


# --------------------------------------------------------------------------- search


def test_search_by_number_name_postal_code_email_contract_account(demo):
    token = agent_token(demo)

    def numbers(query):
        return {h.number for h in backoffice.search(demo, token, query) if h.kind == "customer"}

    assert numbers("10000") == {f"10000{i}" for i in range(1, 7)}
    assert {"200001", "200002"} <= numbers("Müller")
    assert {"200001", "200002"} <= numbers("mueller")  # umlaut-tolerant
    assert {"200001", "200002"} <= numbers("MUELL")
    assert "100004" in numbers("weiss")
    assert "100004" in numbers("50667")
    assert "100001" in numbers("4311")  # contract number 431177
    hits = backoffice.search(demo, token, "anna.mue")
    assert any(h.kind == "account" and h.email == "anna.mueller@example.de" for h in hits)
    assert any(h.kind == "account" and h.name == "Lukas Fuchs"
               for h in backoffice.search(demo, token, "lfu"))
    assert backoffice.search(demo, token, "x") == []  # too short
    assert backoffice.search(demo, token, "zzzz-nothing") == []
    # agents never show up as search hits
    assert not backoffice.search(demo, token, "desk_")


def test_search_treats_like_wildcards_as_text(demo):
    token = agent_token(demo)
    assert backoffice.search(demo, token, "%%") == []
    assert backoffice.search(demo, token, "__") == []


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=120))
def test_search_never_fails_on_free_text(sqlite_backend, query):
    token = getattr(sqlite_backend, "_desk_token", None)
    if token is None:
        token = sqlite_backend._desk_token = agent_token(sqlite_backend)
    hits = backoffice.search(sqlite_backend, token, query)
    assert len(hits) <= 6 * backoffice.SEARCH_LIMIT


def test_jump_to_number(demo):
    token = agent_token(demo)
    assert backoffice.find_number(demo, token, " 100 004 ") == cid(demo, "100004")
    with pytest.raises(NotFound):
        backoffice.find_number(demo, token, "999999")


def _plan(backend, statement) -> str:
    with backend.transaction() as db:
        compiled = statement.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
        if backend.engine.dialect.name == "postgresql":
            db.execute(text("SET LOCAL enable_seqscan = off"))
            rows = db.execute(text(f"EXPLAIN {compiled}")).all()
        else:
            rows = db.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return "\n".join(" ".join(str(c) for c in row) for row in rows)


def test_query_plans_use_indexes(demo):
    """Every search statement is an index *range* scan delivering the order, which stops at
    the LIMIT: never a full scan of the table or of an index, never a sort of all matches.

    (PostgreSQL's planner prefers a sequential scan on tiny tables; ``enable_seqscan = off``
    asks which index answers the query, which is what 1 million rows need.)"""
    with demo.transaction() as db:
        customers = backoffice.customer_search_statements(db, "Mü")
        statements = customers + backoffice.account_search_statements(db, "anna")
    assert len(statements) == 7
    # the search sends each group as one UNION ALL; it must keep every index range
    statements += [("union", backoffice._union(customers))]
    for criterion, statement in statements:
        plan = _plan(demo, statement)
        parts = len(customers) if criterion == "union" else 1
        if demo.engine.dialect.name == "postgresql":
            assert plan.count("Index Cond") >= parts, (criterion, plan)
            assert "Seq Scan" not in plan and "Sort" not in plan, (criterion, plan)
        else:
            lines = [line for line in plan.splitlines()
                     if any(f" {t} " in f"{line} " for t in ("customer", "contract", "account"))]
            assert len(lines) >= parts, (criterion, plan)
            for line in lines:  # SEARCH = a range of an index; SCAN = all of it
                assert "SEARCH" in line and "USING" in line and ">" in line, (criterion, plan)
            assert "TEMP B-TREE" not in plan, (criterion, plan)


# --------------------------------------------------------------------------- customer view


def test_customer_view_shows_everything_of_that_customer(demo):
    token = agent_token(demo)
    view = backoffice.customer_view(demo, token, cid(demo, "100001"))
    assert view.number == "100001"
    assert ("Last name", "Musterjobber") in view.record
    assert {c.number for c in view.contracts} == {"431177", "431178"}
    assert view.codes and view.codes[0].state == "open"
    assert view.accounts == []
    linked = backoffice.customer_view(demo, token, cid(demo, "100005"))
    assert [a.username for a in linked.accounts] == ["lfuchs"]
    assert any(lic.redeemed_by for lic in linked.licences) or linked.licences == []
    org = backoffice.customer_view(demo, token, cid(demo, "300001"))
    assert any(m.role == "super_admin" for m in org.memberships)
    assert any(e.event == "desk_customer_viewed" for e in
               backoffice.customer_view(demo, token, cid(demo, "100001")).audit)
    with pytest.raises(NotFound):
        backoffice.customer_view(demo, token, 10**9)


# --------------------------------------------------------------------------- queues


def _conflict_request(backend) -> int:
    """amueller tries lfuchs's number 100005 and asks the service desk."""
    token = login_token(backend, "amueller")
    with pytest.raises(customer_numbers.LinkConflict):
        customer_numbers.link_customer_number(backend, token, "FUXC-4HNT-7KAR", "100005",
                                              Caller())
    return customer_numbers.request_link_support(backend, token, "FUXC-4HNT-7KAR", "100005",
                                                 Caller()).reference


def test_queue_take_comment_resolve_mails_the_customer(demo):
    reference = _conflict_request(demo)
    token = agent_token(demo)
    assert backoffice.queue_counts(demo, token)["link_conflict_taken"] == 1
    items = backoffice.queue_items(demo, token, "link_conflict_taken")
    assert [i.id for i in items] == [reference]
    assert items[0].customer_number == "100005"
    taken = backoffice.take(demo, token, reference)
    assert taken.status == "taken" and taken.assigned_to == "desk_agent"
    with pytest.raises(ValidationFailed):
        backoffice.comment(demo, token, reference, "   ")
    commented = backoffice.comment(demo, token, reference, "[b]Rückruf[/b] vereinbart")
    assert commented.comments[0].body == "[b]Rückruf[/b] vereinbart"
    backoffice.close(demo, token, reference, "resolved", "Nummer geprüft.")
    assert backoffice.queue_counts(demo, token)["link_conflict_taken"] == 0
    with pytest.raises(Conflict):
        backoffice.close(demo, token, reference, "rejected", "zu spät")
    with demo.transaction() as db:
        mail = db.scalars(select(OutboxMail).where(
            OutboxMail.template == "desk_request_resolved")).one()
        assert mail.to == "anna.mueller@example.de"
        assert "Nummer geprüft." in mail.body


def test_reject_needs_a_reason(demo):
    reference = _conflict_request(demo)
    token = agent_token(demo)
    with pytest.raises(ValidationFailed):
        backoffice.close(demo, token, reference, "rejected", "")
    backoffice.close(demo, token, reference, "rejected", "Nummer gehört jemand anderem.")
    with demo.transaction() as db:
        assert db.get(SupportRequest, reference).status == "rejected"
        assert db.scalars(select(OutboxMail.template).where(
            OutboxMail.template == "desk_request_rejected")).one()


def test_stale_organisation_requests(demo, clock):
    token = agent_token(demo)
    with demo.transaction() as db:
        org = db.scalar(select(Customer.id).where(Customer.number == "300001"))
        m = Membership(customer_id=org, email_key="neu@example.de", role="member",
                       state="pending_approval", created_at=demo.now())
        db.add(m)
        db.flush()
        membership = m.id
    def stale() -> list[int]:
        return [i.id for i in backoffice.queue_items(demo, token, backoffice.STALE_ORG)]

    assert membership not in stale()
    clock.advance(hours=24 * 3 + 1)
    token = agent_token(demo, name="desk_two")
    assert membership in stale()
    assert backoffice.queue_counts(demo, token)[backoffice.STALE_ORG] == len(stale())
    [item] = [i for i in backoffice.queue_items(demo, token, backoffice.STALE_ORG)
              if i.id == membership]
    assert item.customer_number == "300001"
    backoffice.close_membership(demo, token, membership, "resolved")
    assert membership not in stale()
    with demo.transaction() as db:
        assert db.get(Membership, membership).state == "approved"
        assert db.scalars(select(OutboxMail.to).where(
            OutboxMail.template == "desk_membership_approved")).one() == "neu@example.de"


# --------------------------------------------------------------------------- actions


def test_issue_activation_code_revokes_old_ones_and_writes_a_letter(demo):
    from pypdf import PdfReader

    token = agent_token(demo)
    customer = cid(demo, "100001")
    issued = backoffice_actions.issue_activation_code(demo, token, customer)
    assert issued.number == "100001" and len(issued.code) >= 10
    # issue 19.13: one format with the demo's / the records' codes, grouped for reading
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", issued.code)
    reader = PdfReader(issued.letter)
    content = reader.pages[0].extract_text()
    assert issued.code in content and "Freischaltcode" in content
    with demo.transaction() as db:
        codes = db.scalars(select(ActivationCode).where(
            ActivationCode.customer_id == customer)).all()
        assert sum(c.revoked_at is None for c in codes) == 1
        assert all(issued.code not in c.code_digest for c in codes)
        events = [e for e in db.execute(text("select details from audit_log")).scalars()]
        assert not any(issued.code in str(e) for e in events)
    # the old code no longer links, the new one does
    user = login_token(demo, "eneu")
    with pytest.raises(customer_numbers.LinkFailed):
        customer_numbers.link_customer_number(demo, user, "KVG4-MAXJ-7QRT", "100001", Caller())
    customer_numbers.link_customer_number(demo, user, issued.code, "100001", Caller())


def test_unfreeze_code(demo):
    token = agent_token(demo)
    customer = cid(demo, "100001")
    with demo.transaction() as db:
        db.add(Throttle(action="link_code", scope="record_actor", key="100001|a1", failures=9,
                        window_start=demo.now(), frozen=True))
    assert backoffice.customer_view(demo, token, customer).code_frozen
    backoffice_actions.unfreeze_code(demo, token, customer)
    assert not backoffice.customer_view(demo, token, customer).code_frozen


def test_unlock_account(demo):
    token = agent_token(demo)
    account = aid(demo, "eneu")
    with pytest.raises(Conflict):
        backoffice_actions.unlock_account(demo, token, account)
    with demo.transaction() as db:
        db.get(Account, account).status = "locked"
        for _ in range(100):
            throttle.fail(db, "login", "account", f"a{account}", throttle.LOGIN_ACCOUNT,
                          demo.now())
    backoffice_actions.unlock_account(demo, token, account)
    login_token(demo, "eneu", reauth=False)
    with pytest.raises(NotFound):
        backoffice_actions.unlock_account(demo, token, aid(demo, "desk_agent"))


def test_resend_confirmation_and_password_reset_mail_the_user(demo):
    token = agent_token(demo)
    account = aid(demo, "eneu")
    with pytest.raises(Conflict):
        backoffice_actions.resend_confirmation(demo, token, account)
    backoffice_actions.start_password_reset(demo, token, account)
    with demo.transaction() as db:
        assert db.scalars(select(OutboxMail.to).where(
            OutboxMail.template == "password_reset")).all() == ["erika.neu@example.de"]
        db.get(Account, account).status = "unverified"
    backoffice_actions.resend_confirmation(demo, token, account)
    with demo.transaction() as db:
        assert db.scalars(select(OutboxMail.to).where(
            OutboxMail.template == "verify_email")).all()[-1] == "erika.neu@example.de"


def test_end_sessions(demo):
    token = agent_token(demo)
    user = login_token(demo, "eneu")
    result = backoffice_actions.end_sessions(demo, token, aid(demo, "eneu"))
    assert result.params == {"count": "1"}
    with pytest.raises(SessionExpired):
        customer_numbers.linked_numbers(demo, user)
    backoffice.queue_counts(demo, token)  # the agent's own session lives on


def test_reassign_number_by_a_supervisor(demo):
    token = agent_token(demo, "supervisor")
    customer = cid(demo, "100005")
    with pytest.raises(Conflict):  # amueller already holds a private number
        backoffice_actions.reassign_number(demo, token, customer, aid(demo, "amueller"))
    with pytest.raises(Conflict):
        backoffice_actions.reassign_number(demo, token, cid(demo, "100001"), aid(demo, "eneu"))
    backoffice_actions.reassign_number(demo, token, customer, aid(demo, "eneu"), "Nachweis")
    with demo.transaction() as db:
        assert db.scalar(select(CustomerLink.account_id).where(
            CustomerLink.customer_id == customer)) == aid(demo, "eneu")
        templates = set(db.scalars(select(OutboxMail.template)))
        assert {"desk_number_added", "desk_number_removed"} <= templates


def test_reverse_merge_checks_role_and_age(demo, clock):
    from services import merge

    token = agent_token(demo, "supervisor")
    with pytest.raises(NotFound):
        backoffice_actions.reverse_merge(demo, token, 10**6)
    user = login_token(demo, "amueller")
    order = merge.submit(demo, user, "200001", "200002", "Leuchtturm-Sylt-Moewe-17", False,
                         Caller()).order_id
    clock.advance(days=31)
    token = agent_token(demo, "supervisor", name="desk_later")
    with pytest.raises(Conflict):
        backoffice_actions.reverse_merge(demo, token, order)


def test_reverse_merge_within_30_days(demo):
    from services import merge

    user = login_token(demo, "amueller")
    order = merge.submit(demo, user, "200001", "200002", "Leuchtturm-Sylt-Moewe-17", False,
                         Caller()).order_id
    token = agent_token(demo, "supervisor")
    backoffice_actions.reverse_merge(demo, token, order, reason="Kunde widerruft")
    with demo.transaction() as db:
        assert db.get(Customer, cid(demo, "200002")).merged_into_id is None
    with pytest.raises(Conflict):
        backoffice_actions.reverse_merge(demo, token, order)


# --------------------------------------------------------------------------- dashboard


def test_dashboard_counts_per_day(demo, clock):
    token = agent_token(demo)
    _conflict_request(demo)
    with pytest.raises(Exception):  # noqa: B017 - a failed login, any error
        accounts.login(demo, "eneu", "wrong-password-123456", Caller())
    board = backoffice.dashboard(demo, token)
    assert len(board.days) == backoffice.DASHBOARD_DAYS
    assert board.days[-1] == demo.now().date()
    assert board.queues["link_conflict_taken"] == 1
    assert board.series["failures"][-1] >= 1  # the wrong password
    assert sum(board.series["links"]) >= 0
    clock.advance(days=1)
    token = agent_token(demo, name="desk_tomorrow")
    moved = backoffice.dashboard(demo, token)
    assert moved.series["failures"][-2] == board.series["failures"][-1]
    assert moved.series["failures"][-1] == 0
    assert isinstance(moved.days[0], dt.date)


def test_the_iban_is_masked_and_shown_only_on_purpose(demo) -> None:
    """Issue 19.11: the desk view carried the full IBAN; it is masked as on the customer's
    side, and ``reveal_iban`` (a deliberate action) returns it with an audit entry."""
    from db.models import AuditEvent

    token = agent_token(demo)
    view = backoffice.customer_view(demo, token, cid(demo, "200001"))
    iban = dict(view.record)["IBAN"]
    assert iban == "DE89 **** **** **** **30 00"
    assert backoffice.reveal_iban(demo, token, cid(demo, "200001")) == "DE89370400440532013000"
    with demo.transaction() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.event == "desk_iban_shown")).all()
        assert len(events) == 1 and "0532" not in str(events[0].details)
    with pytest.raises(SessionExpired):
        backoffice.reveal_iban(demo, "not-a-token", cid(demo, "200001"))
