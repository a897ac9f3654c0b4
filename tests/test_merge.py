"""Merging customer numbers (guide 004) and the customer-number login, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from db.models import (
    Account,
    AuditEvent,
    Contract,
    Customer,
    CustomerLink,
    LicenceKey,
    MergeOrder,
    Product,
    SupportRequest,
)
from services import accounts, customer_login, mail, merge, sessions
from services.caller import Caller
from services.demo import CONTRACTS as DEMO_CONTRACTS
from services.demo import load_demo
from services.errors import AuthFailed, Conflict, NotAllowed, NotFound, Throttled, ValidationFailed

CALLER = Caller(terminal_id="kiosk-1")
AMUELLER = "Sonnenblume-Kassel-2026"
PW = {"200001": "Gartenzwerg-Elbe-Kiesel-42", "200002": "Leuchtturm-Sylt-Moewe-17",
      "200003": "Brezelkorb-Neckar-Turm-9", "200004": "Schlossberg-Fluss-Nebel-31"}


#: Contracts the demo data already has on 200002 (they move with every merge of the pair).
DEMO_ON_200002 = sum(c["customer_number"] == "200002" for c in DEMO_CONTRACTS)


@pytest.fixture
def demo(backend):
    load_demo(backend)
    return backend


def keep_alive(backend, token: str, clock, customer_session: bool = False) -> None:
    """6 minutes of use (the kiosk idle timeout is 2 minutes): the password is due again."""
    for _ in range(4):
        clock.advance(seconds=90)
        (sessions.current_customer if customer_session else sessions.current)(backend, token)


def amueller(backend, terminal: str = "kiosk-1") -> str:
    return accounts.login(backend, "amueller", AMUELLER, Caller(terminal_id=terminal)).token


def customer(backend, number: str) -> Customer:
    with backend.transaction() as db:
        return db.scalars(select(Customer).where(Customer.number == number)).one()


def add_holdings(backend, number: str, count: int, prefix: str = "K") -> None:
    """``count`` contracts and licences for ``number`` (straight into the database)."""
    with backend.transaction() as db:
        cid = db.scalar(select(Customer.id).where(Customer.number == number))
        product = db.scalars(select(Product)).first()
        if product is None:
            product = Product(sku=f"SKU-{prefix}", name="Test", kind="licence")
            db.add(product)
            db.flush()
        db.add_all([Contract(number=f"{prefix}{number}-{i}", customer_id=cid, product="Abo")
                    for i in range(count)])
        db.add_all([LicenceKey(key_digest=f"{prefix}{number}-{i}", product_id=product.id,
                               customer_id=cid) for i in range(count)])


def owned(backend, model, number: str) -> int:
    with backend.transaction() as db:
        cid = db.scalar(select(Customer.id).where(Customer.number == number))
        return db.scalar(select(func.count(model.id)).where(model.customer_id == cid))


def snapshot(backend) -> dict:
    """Everything a merge touches, to compare before and after."""
    with backend.transaction() as db:
        return {
            "customers": sorted((c.number, c.merged_into_id, c.merged_at, c.mobile, c.street)
                                for c in db.scalars(select(Customer))),
            "contracts": sorted(db.execute(select(Contract.id, Contract.customer_id)).all()),
            "licences": sorted(db.execute(select(LicenceKey.id, LicenceKey.customer_id)).all()),
            "links": sorted(db.execute(select(CustomerLink.account_id,
                                              CustomerLink.customer_id)).all()),
            "requests": sorted(db.execute(select(SupportRequest.id,
                                                 SupportRequest.customer_id)).all()),
            "orders": db.scalar(select(func.count(MergeOrder.id))),
        }


# --------------------------------------------------------------------------- customer login


def test_customer_login_opens_a_customer_session(demo) -> None:
    result = customer_login.login(demo, " 200003 ", PW["200003"], CALLER)
    assert result.number == "200003" and result.display_name == "Thomas Bäcker"
    info = sessions.current_customer(demo, result.token)
    assert info.number == "200003"
    # the account functions keep treating it as no session at all
    with pytest.raises(sessions.SessionExpired):
        sessions.current(demo, result.token)
    assert merge.options(demo, result.token).numbers == ["200003"]
    assert sessions.is_customer_session(demo, result.token)


def test_customer_login_neutral_and_throttled(demo) -> None:
    with pytest.raises(AuthFailed) as wrong:
        customer_login.login(demo, "200003", "falsch", CALLER)
    with pytest.raises(AuthFailed) as unknown:
        customer_login.login(demo, "999999", "falsch", CALLER)
    assert wrong.value.message == unknown.value.message == customer_login.MSG_FAILED
    calls = demo.hasher.calls
    with pytest.raises(AuthFailed):
        customer_login.login(demo, "999998", "x", CALLER)
    assert demo.hasher.calls == calls + 1  # one argon2 run for an unknown number too
    for _ in range(4):
        with pytest.raises(AuthFailed):
            customer_login.login(demo, "200003", "falsch", CALLER)
    with pytest.raises(Throttled):  # the right password during the wait is refused
        customer_login.login(demo, "200003", PW["200003"], CALLER)


def test_login_any_routes_numbers_and_usernames(demo) -> None:
    assert isinstance(customer_login.login_any(demo, "200004", PW["200004"], CALLER),
                      customer_login.CustomerLoginResult)
    assert isinstance(customer_login.login_any(demo, "amueller", AMUELLER, CALLER),
                      accounts.LoginResult)
    assert customer_login.looks_like_customer_number(" 2000 01 ")
    assert not customer_login.looks_like_customer_number("anna@example.de")


def test_customer_session_reauth_and_merged_number_ends(demo, clock) -> None:
    token = customer_login.login(demo, "200003", PW["200003"], CALLER).token
    keep_alive(demo, token, clock, customer_session=True)
    with pytest.raises(sessions.ReauthRequired):
        merge.require_recent_auth(demo, token)
    with pytest.raises(AuthFailed):
        merge.reauthenticate(demo, token, "falsch")
    merge.reauthenticate(demo, token, PW["200003"])
    merge.require_recent_auth(demo, token)
    with demo.transaction() as db:
        c3 = db.scalars(select(Customer).where(Customer.number == "200003")).one()
        c4 = db.scalars(select(Customer).where(Customer.number == "200004")).one()
        c3.merged_into_id = c4.id
    with pytest.raises(sessions.SessionExpired):
        sessions.current_customer(demo, token)
    with pytest.raises(AuthFailed):
        customer_login.login(demo, "200003", PW["200003"], CALLER)


# --------------------------------------------------------------------------- proof + comparison


def test_compare_highlights_differences(demo) -> None:
    token = amueller(demo)
    assert merge.options(demo, token).numbers == ["200001"]
    result = merge.compare(demo, token, "200001", "2000 02", PW["200002"], CALLER)
    assert not result.blocked and result.reference is None
    differs = {r.field for r in result.rows if r.differs}
    assert differs == {"street", "phone", "mobile", "bank_account", "bank_code"}
    assert [r.field for r in result.rows][:3] == ["company", "first_name", "last_name"]


def test_compare_accepts_a_valid_freischaltcode(demo) -> None:
    token = amueller(demo)
    result = merge.compare(demo, token, "200001", "200002", "anna 7twf-3hqd", CALLER)
    assert result.other_number == "200002"


def test_wrong_proof_is_neutral_and_limited(demo) -> None:
    token = amueller(demo)
    errors = []
    for number in ("200002", "999999"):
        with pytest.raises(AuthFailed) as err:
            merge.compare(demo, token, "200001", number, "falsch", CALLER)
        errors.append(err.value)
    assert errors[0].message == errors[1].message == merge.MSG_PROOF
    assert not errors[0].params and not errors[0].fields  # nothing of the other record
    for _ in range(3):
        with pytest.raises(AuthFailed):
            merge.compare(demo, token, "200001", "200002", "falsch", CALLER)
    with pytest.raises(Throttled):  # 5 wrong proofs freeze the number
        merge.compare(demo, token, "200001", "200002", "falsch", CALLER)
    with pytest.raises(Throttled):  # even with the right one
        merge.compare(demo, token, "200001", "200002", PW["200002"], CALLER)
    with demo.transaction() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.event == "merge_proof")).all()
    assert events and all("falsch" not in str(e.details) for e in events)


def test_input_checks(demo) -> None:
    token = amueller(demo)
    with pytest.raises(ValidationFailed) as err:
        merge.compare(demo, token, "200001", "", "", CALLER)
    assert set(err.value.fields) == {"other_number", "credential"}
    with pytest.raises(ValidationFailed):
        merge.compare(demo, token, "200001", " 200001", "x", CALLER)
    with pytest.raises(NotAllowed):  # the kept number must be the account's
        merge.compare(demo, token, "200003", "200004", PW["200004"], CALLER)


def test_reauth_needed_after_five_minutes(demo, clock) -> None:
    token = amueller(demo)
    keep_alive(demo, token, clock)
    with pytest.raises(sessions.ReauthRequired):
        merge.compare(demo, token, "200001", "200002", PW["200002"], CALLER)
    merge.reauthenticate(demo, token, AMUELLER)
    merge.compare(demo, token, "200001", "200002", PW["200002"], CALLER)


def test_blocked_merge_queues_one_request_and_offers_the_form(demo, tmp_path) -> None:
    token = customer_login.login(demo, "200003", PW["200003"], CALLER).token
    first = merge.compare(demo, token, "200003", "200004", PW["200004"], CALLER)
    again = merge.compare(demo, token, "200003", "200004", PW["200004"], CALLER)
    assert first.blocked and first.reference == again.reference
    assert {r.field for r in first.rows if r.differs and r.blocking} == {"last_name"}
    with demo.transaction() as db:
        request = db.get(SupportRequest, first.reference)
        assert request.kind == "merge_blocked" and request.status == "open"
        assert request.details["other_number"] == "200004"
        assert "Schlossberg" not in str(request.details)
    with pytest.raises(NotAllowed) as err:
        merge.submit(demo, token, "200003", "200004", PW["200004"], True, CALLER)
    assert err.value.message == merge.MSG_BLOCKED
    path = merge.save_transfer_form(demo, token, first.reference, "de")
    data = open(path, "rb").read()
    assert data.startswith(b"%PDF")
    from pypdf import PdfReader

    text = PdfReader(path).pages[0].extract_text()
    assert "200004" in text and "Becker" in text and "Vertragsübergabe" in text
    with pytest.raises(ValidationFailed):  # 200003 has no e-mail address
        merge.mail_transfer_form(demo, token, first.reference, CALLER)
    other = amueller(demo)
    with pytest.raises(NotFound):  # only the requester gets the form
        merge.transfer_form(demo, other, first.reference)
    assert owned(demo, Contract, "200004") == 0 and customer(demo, "200004").merged_into_id is None


def test_form_by_mail_for_an_account(demo) -> None:
    token = amueller(demo)
    with demo.transaction() as db:
        db.scalars(select(Customer).where(Customer.number == "200002")).one().last_name = "Meier"
    result = merge.compare(demo, token, "200001", "200002", PW["200002"], CALLER)
    assert result.blocked
    to = merge.mail_transfer_form(demo, token, result.reference, Caller(language="en"))
    with demo.transaction() as db:
        sent = [m for m in mail.outbox(db) if m.template == "merge_form"][-1]
    assert to == sent.to and sent.attachment.startswith(b"%PDF")
    assert "Contract transfer form" in sent.subject
    with demo.transaction() as db:
        queued = [m for m in mail.outbox(db) if m.template == "support_request_sent"]
    assert len(queued) == 1 and "Vertragsübergabe" in queued[0].body  # amueller: German


# --------------------------------------------------------------------------- the order


def test_merge_moves_everything_and_is_idempotent(demo) -> None:
    add_holdings(demo, "200002", 3)
    add_holdings(demo, "200001", 1, prefix="A")
    with demo.transaction() as db:
        c2 = db.scalar(select(Customer.id).where(Customer.number == "200002"))
        db.add(SupportRequest(kind="address_review", status="open", customer_id=c2))
        db.add(SupportRequest(kind="address_review", status="resolved", customer_id=c2))
    token = amueller(demo)
    result = merge.submit(demo, token, "200001", "200002", PW["200002"], True, CALLER)
    assert (result.contracts, result.licences, result.requests) == (3 + DEMO_ON_200002, 3, 1)
    assert not result.already and result.mailed
    assert owned(demo, Contract, "200001") == 4 + DEMO_ON_200002
    assert owned(demo, LicenceKey, "200001") == 4
    assert owned(demo, SupportRequest, "200002") == 1  # the resolved one stays
    merged = customer(demo, "200002")
    assert merged.merged_into_id == customer(demo, "200001").id and merged.merged_at
    assert merged.street == "Schadowstraße 44" and merged.iban  # data preserved
    assert customer(demo, "200001").mobile is None  # "Daten übernehmen": kept data as is
    again = merge.submit(demo, token, "200001", "200002", PW["200002"], True, CALLER)
    assert again.already and again.order_id == result.order_id
    with demo.transaction() as db:
        order = db.get(MergeOrder, result.order_id)
        assert order.status == "done" and order.take_over
        assert set(order.differences) == {"street", "phone", "mobile", "bank_account",
                                          "bank_code"}
        assert len(order.moved["contracts"]) == 3 + DEMO_ON_200002
        assert db.scalar(select(func.count(MergeOrder.id))) == 1
        event = db.scalars(select(AuditEvent).where(AuditEvent.event == "merge_order")).one()
        sent = [m for m in mail.outbox(db) if m.template == "merge_done"]
    assert event.details["kept_number"] == "200001" and event.details["choice"] == "take_over"
    assert PW["200002"] not in str(event.details)
    assert len(sent) == 1 and "200002" in sent[0].body and sent[0].to == "anna.mueller@example.de"
    # the merged number cannot be merged or used any more
    with pytest.raises(AuthFailed):
        customer_login.login(demo, "200002", PW["200002"], CALLER)


def test_submit_without_take_over_completes_empty_fields(demo) -> None:
    token = amueller(demo)
    result = merge.submit(demo, token, "200001", "200002", PW["200002"], False, CALLER)
    assert customer(demo, "200001").mobile == "+49 171 2223334"
    merge.reverse_merge(demo, result.order_id, actor_id=None)
    assert customer(demo, "200001").mobile is None


def test_failure_in_the_middle_leaves_both_records(demo, monkeypatch) -> None:
    add_holdings(demo, "200002", 5)
    with demo.transaction() as db:
        c2 = db.scalar(select(Customer.id).where(Customer.number == "200002"))
        db.add(SupportRequest(kind="address_review", status="open", customer_id=c2))
    before = snapshot(demo)
    token = amueller(demo)

    def broken(*_args):
        raise RuntimeError("disk full")

    # patched where the order looks it up (services/merge/order.py), after contracts and licences
    monkeypatch.setattr("services.merge.order._move_memberships", broken)
    with pytest.raises(RuntimeError):
        merge.submit(demo, token, "200001", "200002", PW["200002"], False, CALLER)
    assert snapshot(demo) == before
    monkeypatch.undo()
    merge.submit(demo, token, "200001", "200002", PW["200002"], False, CALLER)
    assert snapshot(demo) != before


def test_four_terminals_submit_the_same_pair_once(demo) -> None:
    add_holdings(demo, "200002", 20)
    tokens = [amueller(demo, f"kiosk-{i}") for i in range(4)]
    results, errors = [], []
    barrier = threading.Barrier(4)

    def run(token: str, terminal: str) -> None:
        barrier.wait()
        try:
            results.append(merge.submit(demo, token, "200001", "200002", PW["200002"], True,
                                        Caller(terminal_id=terminal)))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t, f"kiosk-{i}"))
               for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({r.order_id for r in results}) == 1
    assert sorted(r.already for r in results) == [False, True, True, True]
    with demo.transaction() as db:
        assert db.scalar(select(func.count(MergeOrder.id))) == 1
    assert owned(demo, Contract, "200001") == 20 + DEMO_ON_200002


def test_number_of_another_account_or_already_merged_refused(demo) -> None:
    token = amueller(demo)
    with demo.transaction() as db:
        c2 = db.scalars(select(Customer).where(Customer.number == "200002")).one()
        other = db.scalars(select(Account).where(Account.username_key == "eneu")).one()
        db.add(CustomerLink(account_id=other.id, customer_id=c2.id, customer_type="private"))
    with pytest.raises(NotAllowed) as err:
        merge.submit(demo, token, "200001", "200002", PW["200002"], True, CALLER)
    assert err.value.message == merge.MSG_OTHER_ACCOUNT
    with demo.transaction() as db:
        db.execute(CustomerLink.__table__.delete().where(CustomerLink.customer_id == c2.id))
        c3 = db.scalars(select(Customer).where(Customer.number == "200003")).one()
        db.get(Customer, c2.id).merged_into_id = c3.id
    with pytest.raises(Conflict) as err:
        merge.submit(demo, token, "200001", "200002", PW["200002"], True, CALLER)
    assert err.value.message == merge.MSG_ALREADY_MERGED


def test_customer_session_cannot_take_a_number_with_an_account(demo) -> None:
    token = customer_login.login(demo, "200002", PW["200002"], CALLER).token
    with pytest.raises(NotAllowed) as err:
        merge.compare(demo, token, "200002", "200001", PW["200001"], CALLER)
    assert err.value.message == merge.MSG_HAS_ACCOUNT


def test_customer_session_merges_and_links_move(demo) -> None:
    with demo.transaction() as db:
        for number in ("200003", "200004"):
            db.scalars(select(Customer).where(Customer.number == number)).one().last_name = "X"
    add_holdings(demo, "200004", 2)
    token = customer_login.login(demo, "200003", PW["200003"], CALLER).token
    other = customer_login.login(demo, "200004", PW["200004"], CALLER).token
    result = merge.submit(demo, token, "200003", "200004", PW["200004"], True, CALLER)
    assert result.contracts == 2 and not result.mailed  # no e-mail address known
    with pytest.raises(sessions.SessionExpired):  # a session of the merged number ends
        sessions.current_customer(demo, other)


# --------------------------------------------------------------------------- reversal


def test_reverse_restores_within_30_days(demo, clock) -> None:
    add_holdings(demo, "200002", 4)
    token = amueller(demo)
    with demo.transaction() as db:
        c2 = db.scalars(select(Customer).where(Customer.number == "200002")).one()
        acc = db.scalars(select(Account).where(Account.username_key == "amueller")).one()
        c2.type = "company"  # a second number of another type on the same account
        db.add(CustomerLink(account_id=acc.id, customer_id=c2.id, customer_type="company"))
    before = snapshot(demo)
    result = merge.submit(demo, token, "200001", "200002", PW["200002"], True, CALLER)
    with demo.transaction() as db:
        assert db.scalar(select(func.count(CustomerLink.id)).where(
            CustomerLink.customer_id == customer(demo, "200002").id)) == 0
    clock.advance(days=29)
    reversed_ = merge.reverse_merge(demo, result.order_id, actor_id=None, reason="Kunde")
    assert (reversed_.contracts, reversed_.licences) == (4 + DEMO_ON_200002, 4)
    after = snapshot(demo)
    after["orders"] = before["orders"]
    assert after == before
    with pytest.raises(Conflict):
        merge.reverse_merge(demo, result.order_id, actor_id=None)
    with demo.transaction() as db:
        order = db.get(MergeOrder, result.order_id)
        assert order.status == "reversed" and order.reversed_at is not None
    with pytest.raises(NotFound):
        merge.reverse_merge(demo, 987654, actor_id=None)


def test_reverse_too_late(demo, clock) -> None:
    token = amueller(demo)
    result = merge.submit(demo, token, "200001", "200002", PW["200002"], True, CALLER)
    clock.advance(days=31)
    with pytest.raises(Conflict) as err:
        merge.reverse_merge(demo, result.order_id, actor_id=None)
    assert err.value.message == merge.MSG_TOO_LATE
    # and a merge can be submitted again after a reversal
    clock.advance(days=-31)
    merge.reverse_merge(demo, result.order_id, actor_id=None)
    token = amueller(demo)
    second = merge.submit(demo, token, "200001", "200002", PW["200002"], True, CALLER)
    assert second.order_id != result.order_id and not second.already


# --------------------------------------------------------------------------- free text


@given(number=st.text(max_size=40), credential=st.text(max_size=60))
@hyp_settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_typed_text_gives_a_domain_error_and_no_secret(sqlite_backend, number,
                                                          credential) -> None:
    if not getattr(sqlite_backend, "_demo", False):
        load_demo(sqlite_backend)
        sqlite_backend._demo = True
    token = amueller(sqlite_backend)
    with pytest.raises((ValidationFailed, AuthFailed, Throttled, NotAllowed, Conflict)):
        merge.compare(sqlite_backend, token, "200001", number, credential, CALLER)
    with sqlite_backend.transaction() as db:
        assert db.scalar(select(func.count(MergeOrder.id))) == 0
        if len(credential) >= 4:
            details = [str(e.details) for e in db.scalars(select(AuditEvent))]
            assert not any(credential in d for d in details if credential not in "200001")


@given(identifier=st.text(max_size=40))
@hyp_settings(max_examples=40, deadline=None)
def test_customer_number_detection_never_fails(identifier) -> None:
    looks = customer_login.looks_like_customer_number(identifier)
    assert not looks or "@" not in identifier
