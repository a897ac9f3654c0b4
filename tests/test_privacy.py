"""Data protection (#16) on SQLite and PostgreSQL: the export holds every table's rows of the
account and none of another (same name), no secret; the deletion lifecycle with the injected
clock; the last-super-admin rule; the desk's four-eyes deletion; the audit triggers' two
narrow paths."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pytest
from pilot import agent_login
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from test_accounts import CALLER, PW, mails, register_and_verify

from db.models import (
    Account,
    AccountContact,
    AccountDeletion,
    AuditEvent,
    AuditPurgeWindow,
    Consent,
    Contract,
    ContractLink,
    Customer,
    CustomerLink,
    EmailToken,
    LicenceKey,
    Membership,
    MergeOrder,
    OutboxMail,
    Product,
    RecoveryCode,
    RequestComment,
    SecondFactor,
    Session,
    SupportRequest,
    Throttle,
)
from services import accounts, agents, audit, privacy, sessions
from services.errors import AuthFailed, Conflict, NotAllowed, Throttled, ValidationFailed

AGENT_PW = "ein langer Satz für den Schalter 2026"


def _login(backend, identifier: str, password: str = PW) -> str:
    return accounts.login(backend, identifier, password, CALLER).token


def _fill(backend, account_id: int, tag: str) -> dict[str, int]:
    """One row in every table that belongs to an account; returns their ids by table."""
    with backend.transaction() as db:
        customer = Customer(number=f"N{tag}", first_name="Max", last_name="Müller",
                            street=f"Weg {tag}", postal_code="34117", city="Kassel",
                            iban="DE02120300000000202051", password_hash=f"$argon2id$c{tag}")
        company = Customer(number=f"C{tag}", type="company", company=f"Firma {tag}")
        product = Product(sku=f"SKU{tag}", name=f"Produkt {tag}", kind="licence")
        db.add_all([customer, company, product])
        db.flush()
        contract = Contract(number=f"V{tag}", customer_id=customer.id, product="Abo")
        db.add(contract)
        db.flush()
        rows = {
            "account_contact": AccountContact(account_id=account_id, kind="phone",
                                              value=f"+49 561 {tag}", value_key=f"+49561{tag}"),
            "customer_link": CustomerLink(account_id=account_id, customer_id=customer.id,
                                          customer_type="private"),
            "contract_link": ContractLink(account_id=account_id, contract_id=contract.id,
                                          objection_digest=f"objection-digest-{tag}"),
            "licence_key": LicenceKey(key_digest=f"key-digest-{tag}", product_id=product.id,
                                      redeemed_by_id=account_id,
                                      redeemed_at=backend.now()),
            "membership": Membership(customer_id=company.id, account_id=account_id,
                                     email_key=f"m{tag}@example.com", role="member"),
            "consent": Consent(account_id=account_id, kind="privacy", granted=True,
                               text_version="2026-01"),
            "support_request": SupportRequest(kind="address_review", account_id=account_id,
                                              subject=f"Anfrage {tag}"),
            "merge_order": MergeOrder(account_id=account_id, kept_customer_id=customer.id,
                                      merged_customer_id=company.id),
            "account_deletion": AccountDeletion(account_id=account_id, state="cancelled",
                                                via="self"),
            # the second factor (#15): exported without its sealed secret or code digests
            "second_factor": SecondFactor(account_id=account_id,
                                          secret_sealed=f"sealed-secret-{tag}",
                                          confirmed_at=None),  # not yet in force
            "recovery_code": RecoveryCode(account_id=account_id,
                                          code_digest=f"recovery-digest-{tag}"),
        }
        db.add_all(rows.values())
        db.flush()
        db.add(RequestComment(request_id=rows["support_request"].id, body=f"Kommentar {tag}"))
        db.add(Throttle(action="login", scope="account", key=f"a{account_id}", failures=2))
        audit.record(db, "profile_changed", actor_id=account_id, fields="phones", now=backend.now())
        return {name: row.id for name, row in rows.items()}


@pytest.fixture
def two(backend):
    """Two accounts of the same name ("Max Müller"), each with a row in every table."""
    a = register_and_verify(backend)
    b = register_and_verify(backend, username="maxmueller2", email="max.mueller@example.org")
    ids = {a.id: _fill(backend, a.id, "1"), b.id: _fill(backend, b.id, "2")}
    token = _login(backend, "maxmuster")
    _login(backend, "maxmueller2")
    return a.id, b.id, ids, token


def _export(backend, token, **kw):
    result = privacy.export_my_data(backend, token, PW, CALLER, **kw)
    return result, json.loads(Path(result.json_path).read_text("utf-8")) if result.json_path \
        else None


def test_export_has_every_table_of_the_account_and_nothing_of_the_other(backend, two):
    a, b, ids, token = two
    result, data = _export(backend, token)
    assert Path(result.pdf_path).read_bytes().startswith(b"%PDF")
    assert privacy.covered_tables() <= set(data), "a table with an account id is not exported"
    assert data["account"]["id"] == a and data["account"]["last_name"] == "Müller"
    for table, row_id in ids[a].items():
        assert row_id in [r["id"] for r in data[table]], table
    for section in privacy.covered_tables() | {"audit_log", "throttle", "outbox"}:
        rows = data[section] if isinstance(data[section], list) else [data[section]]
        assert rows, f"{section} is empty"
        for row in rows:
            assert row.get("account_id", a) == a and row.get("actor_id", a) == a, section
            assert row.get("redeemed_by_id", a) == a, section
    own = {r["id"] for t, r_id in ids[b].items() for r in data[t] if r["id"] == r_id}
    assert not own, "rows of the other account are in the export"
    assert data["customer_link"][0]["customer"]["number"] == "N1"
    request = [r for r in data["support_request"] if r["id"] == ids[a]["support_request"]][0]
    assert [c["body"] for c in request["comments"]] == ["Kommentar 1"]
    assert {m["to"].lower() for m in data["outbox"]} == {"max.muster@example.com"}
    assert all(e["actor_id"] == a for e in data["audit_log"])
    blob = Path(result.json_path).read_text("utf-8")
    assert "N2" not in blob and "Weg 2" not in blob and "max.mueller@example.org" not in blob


def test_export_contains_no_secret(backend, two):
    a, _b, _ids, token = two
    with backend.transaction() as db:
        secrets = [db.scalar(select(Account.password_hash).where(Account.id == a))]
        secrets += list(db.scalars(select(EmailToken.code_digest).where(EmailToken.account_id == a)))
        secrets += list(db.scalars(select(EmailToken.link_digest).where(EmailToken.account_id == a)))
        secrets += list(db.scalars(select(Session.token_digest).where(Session.account_id == a)))
        secrets += ["objection-digest-1", "key-digest-1", "$argon2id$c1", "sealed-secret-1",
                    "recovery-digest-1"]
        codes = [m.params["code"] for m in db.scalars(select(OutboxMail)) if "code" in m.params]
    result, data = _export(backend, token)
    blob = Path(result.json_path).read_text("utf-8")
    assert codes and len(secrets) > 5
    for secret in [s for s in secrets if s] + codes:
        assert secret not in blob
    for word in ("password_hash", "digest", "token_digest", "secret"):
        assert word not in blob
    assert data["outbox"] and all(set(m).isdisjoint({"body", "params", "attachment"})
                                  for m in data["outbox"])


def test_export_needs_the_password_is_hourly_audited_and_mailed_in_kiosk_mode(backend, two,
                                                                              clock):
    a, _b, _ids, token = two
    with pytest.raises(AuthFailed):
        privacy.export_my_data(backend, token, "falsch", CALLER)
    with pytest.raises(ValidationFailed):
        privacy.export_my_data(backend, token, "", CALLER)
    result = privacy.export_my_data(backend, token, PW, CALLER, by_mail=True)
    assert result.json_path is None and result.email.lower() == "max.muster@example.com"
    assert not list(backend.settings.resolved_export_dir.glob("*")) \
        if backend.settings.resolved_export_dir.exists() else True
    sent = mails(backend, "data_export")[-1]
    with zipfile.ZipFile(io.BytesIO(sent.attachment)) as archive:
        names = sorted(archive.namelist())
        assert [n.rsplit(".", 1)[1] for n in names] == ["json", "pdf"]
        assert json.loads(archive.read(names[0]))["account"]["id"] == a
    with pytest.raises(Throttled) as waited:
        privacy.export_my_data(backend, token, PW, CALLER)
    assert waited.value.params["minutes"] == 60
    clock.advance(minutes=61)
    token = _login(backend, "maxmuster")
    assert privacy.export_my_data(backend, token, PW, CALLER).json_path
    with backend.transaction() as db:
        vias = list(db.scalars(select(AuditEvent.details).where(
            AuditEvent.event == "data_export", AuditEvent.actor_id == a)))
    assert [v["via"] for v in vias] == ["mail", "file"]


# --------------------------------------------------------------------------- deletion


def _status(backend, account_id):
    with backend.transaction() as db:
        return db.get(Account, account_id).status


def test_deletion_lifecycle_request_cancel_request_erase(backend, two, clock):
    a, b, ids, token = two
    preview = privacy.deletion_preview(backend, token)
    assert preview.customer_numbers == ["N1"] and preview.contracts == ["V1"]
    assert preview.licences == 1 and preview.blocked_by == []
    assert preview.erase_on == (clock() + dt.timedelta(days=14)).date()
    with pytest.raises(AuthFailed):
        privacy.request_deletion(backend, token, "falsch", CALLER)
    result = privacy.request_deletion(backend, token, PW, CALLER)
    assert result.erase_on == preview.erase_on
    assert _status(backend, a) == "deletion_pending"
    with pytest.raises(sessions.SessionExpired):
        sessions.current(backend, token)  # sessions ended at once
    # logging in offers to cancel; a wrong password is just a failed login
    with pytest.raises(AuthFailed):
        accounts.login(backend, "maxmuster", "falsch", CALLER)
    with pytest.raises(accounts.DeletionPending) as pending:
        accounts.login(backend, "maxmuster", PW, CALLER)
    assert pending.value.params["date"]
    login = privacy.cancel_deletion_login(backend, "maxmuster", PW, CALLER)
    assert _status(backend, a) == "active" and sessions.current(backend, login.token)
    # a second time, left to run out
    privacy.request_deletion(backend, login.token, PW, CALLER)
    clock.advance(days=13, hours=23)
    assert privacy.erase_due(backend) == 0
    clock.advance(hours=2)
    assert privacy.erase_due(backend, dry_run=True) == 1
    assert privacy.erase_due(backend) == 1
    with backend.transaction() as db:
        gone = db.get(Account, a)
        assert gone.status == "deleted"
        assert (gone.email, gone.email_key, gone.username, gone.first_name, gone.last_name,
                gone.street, gone.password_hash, gone.iban) == (None,) * 8
        for model in (CustomerLink, ContractLink, AccountContact, EmailToken, Session):
            assert db.scalar(select(func.count()).select_from(model).where(
                model.account_id == a)) == 0, model
        assert db.scalar(select(LicenceKey.redeemed_by_id).where(
            LicenceKey.id == ids[a]["licence_key"])) is None
        assert db.get(Membership, ids[a]["membership"]).state == "removed"
        assert db.scalar(select(func.count()).select_from(OutboxMail).where(
            func.lower(OutboxMail.to) == "max.muster@example.com")) == 0
        entries = list(db.scalars(select(AuditEvent).where(AuditEvent.actor_id == a)))
        assert entries and all(e.pseudonymised_at is not None for e in entries
                               if e.event != "account_erased")
        assert db.get(Customer, db.get(MergeOrder, ids[a]["merge_order"]).kept_customer_id)
        # the other account is untouched
        other = db.get(Account, b)
        assert (other.status, other.last_name, other.email) == (
            "active", "Müller", "max.mueller@example.org")
        for table, model in (("customer_link", CustomerLink), ("contract_link", ContractLink),
                             ("membership", Membership), ("account_contact", AccountContact)):
            assert db.get(model, ids[b][table]).account_id == b
        assert db.get(LicenceKey, ids[b]["licence_key"]).redeemed_by_id == b
    assert privacy.erase_due(backend) == 0
    # the address and the user name are free again
    again = register_and_verify(backend)
    assert again.id != a and again.email_key == "max.muster@example.com"


def test_cancelling_needs_the_second_factor_when_the_account_has_one(backend, two, clock):
    """An account with a second factor waiting for its deletion: the login asks the code
    first, as always (a wrong password gets the same code step, so the password step tells
    nothing), and offers the cancellation only after the right code; the password alone
    cancels nothing."""
    from services import second_factor

    a, _b, _ids, token = two
    secret = second_factor.new_secret()
    second_factor.begin_enrolment(backend, token, secret=secret)
    codes = second_factor.confirm_enrolment(
        backend, token, second_factor.code_at(secret, backend.now()), CALLER).recovery_codes
    clock.advance(minutes=1)
    login = second_factor.complete_login(
        backend, accounts.login(backend, "maxmuster", PW, CALLER).token,
        second_factor.code_at(secret, backend.now()), CALLER)
    privacy.request_deletion(backend, login.token, PW, CALLER)
    clock.advance(minutes=1)
    right_password = accounts.login(backend, "maxmuster", PW, CALLER)
    wrong_password = accounts.login(backend, "maxmuster", "falsch", CALLER)
    assert right_password.second_factor == wrong_password.second_factor == "code"
    with pytest.raises(AuthFailed):  # the password alone cancels nothing
        privacy.cancel_deletion_login(backend, "maxmuster", PW, CALLER)
    with pytest.raises(sessions.SessionExpired):  # nor does a session before its code
        privacy.cancel_deletion_after_code(backend, right_password.token, CALLER)
    with pytest.raises(AuthFailed):  # the decoy: even the right code fails
        second_factor.complete_login(backend, wrong_password.token,
                                     second_factor.code_at(secret, backend.now()), CALLER)
    with pytest.raises(accounts.DeletionPending) as pending:
        second_factor.complete_login(backend, right_password.token, codes[0], CALLER,
                                     recovery=True)
    assert pending.value.params["date"]
    assert _status(backend, a) == "deletion_pending"
    with pytest.raises(sessions.SessionExpired):  # not a session for anything else
        sessions.current(backend, right_password.token)
    result = privacy.cancel_deletion_after_code(backend, right_password.token, CALLER)
    assert _status(backend, a) == "active"
    assert result.token == right_password.token and sessions.current(backend, result.token)
    with pytest.raises(sessions.SessionExpired):  # once
        privacy.cancel_deletion_after_code(backend, right_password.token, CALLER)


def test_cancel_link_and_no_second_deletion(backend, two):
    _a, _b, _ids, token = two
    a = two[0]
    privacy.request_deletion(backend, token, PW, CALLER)
    agents.create_agent(backend, "desk.sven", "supervisor", AGENT_PW)
    sven = agent_login(backend, "desk.sven", AGENT_PW, CALLER).token
    with pytest.raises(Conflict):
        privacy.desk_request_deletion(backend, sven, a, "Ausweis", CALLER)
    link = mails(backend, "account_deletion_scheduled")[-1].params["link"]
    link_token = link.rsplit("=", 1)[-1].rsplit("/", 1)[-1]
    assert privacy.cancel_deletion_link(backend, link_token, CALLER)
    with pytest.raises(ValidationFailed):
        privacy.cancel_deletion_link(backend, link_token, CALLER)


def test_last_super_admin_cannot_delete_until_another_exists(backend):
    from services import demo

    demo.load_demo(backend)
    token = _login(backend, "kkoehler", "Praxisschild-Isar-Wolke-2026")
    assert privacy.deletion_preview(backend, token).blocked_by == ["Praxis Dr. Köhler GmbH"]
    with pytest.raises(Conflict) as refused:
        privacy.request_deletion(backend, token, "Praxisschild-Isar-Wolke-2026", CALLER)
    assert refused.value.message == privacy.MSG_LAST_SUPER_ADMIN
    assert refused.value.params["companies"] == "Praxis Dr. Köhler GmbH"
    with backend.transaction() as db:
        kk = db.scalars(select(Account).where(Account.username == "kkoehler")).one()
        other = db.scalars(select(Account).where(Account.username == "amueller")).one()
        company = db.scalars(select(Membership).where(Membership.account_id == kk.id)).one()
        db.add(Membership(customer_id=company.customer_id, account_id=other.id,
                          email_key=other.email_key, role="super_admin", state="active"))
    assert privacy.request_deletion(backend, token, "Praxisschild-Isar-Wolke-2026", CALLER)


def test_desk_deletion_needs_another_supervisor(backend, two):
    a, _b, _ids, _token = two
    agents.create_agent(backend, "desk.anna", "agent", AGENT_PW)
    agents.create_agent(backend, "desk.sven", "supervisor", AGENT_PW)
    agents.create_agent(backend, "desk.ida", "supervisor", AGENT_PW)

    def desk(name):
        return agent_login(backend, name, AGENT_PW, CALLER).token

    anna, sven, ida = desk("desk.anna"), desk("desk.sven"), desk("desk.ida")
    with pytest.raises(ValidationFailed):
        privacy.desk_request_deletion(backend, anna, a, "", CALLER)
    privacy.desk_request_deletion(backend, sven, a, "Personalausweis geprüft", CALLER)
    assert _status(backend, a) == "active"  # nothing happens before the confirmation
    with backend.transaction() as db:
        request = db.scalars(select(SupportRequest).where(
            SupportRequest.kind == privacy.KIND_PRIVACY)).one()
    with pytest.raises(NotAllowed):
        privacy.desk_decide_deletion(backend, anna, request.id, True)  # an agent
    with pytest.raises(NotAllowed):
        privacy.desk_decide_deletion(backend, sven, request.id, True)  # the requester
    done = privacy.desk_decide_deletion(backend, ida, request.id, True, caller=CALLER)
    assert done.erase_on and _status(backend, a) == "deletion_pending"
    with pytest.raises(Conflict):
        privacy.desk_decide_deletion(backend, ida, request.id, False, "zu spät")
    with backend.transaction() as db:
        deletion = db.scalars(select(AccountDeletion).where(AccountDeletion.via == "desk")).one()
        assert (deletion.state, deletion.via) == ("scheduled", "desk")
        events = [e.event for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "desk_deletion_requested" in events and "desk_deletion_confirmed" in events
    assert mails(backend, "account_deletion_scheduled")


def test_desk_export_goes_to_the_account_never_to_the_agent(backend, two):
    a, _b, _ids, _token = two
    agents.create_agent(backend, "desk.anna", "agent", AGENT_PW)
    anna = agent_login(backend, "desk.anna", AGENT_PW, CALLER).token
    result = privacy.desk_export(backend, anna, a, "Ausweis vorgelegt", CALLER)
    assert result.json_path is None and result.email is None
    sent = mails(backend, "data_export")
    assert [m.to.lower() for m in sent] == ["max.muster@example.com"]
    with backend.transaction() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.event == "data_export")).one()
    assert event.details["account"] == a and event.details["via"] == "desk"


# --------------------------------------------------------------------------- the triggers


def test_audit_triggers_allow_only_pseudonymisation_and_the_retention_window(backend):
    now = backend.now()
    with backend.transaction() as db:
        entry = audit.record(db, "x", actor_id=1, note="Max Müller", fields="a", now=now)
        db.flush()
        entry_id = entry.id
    with pytest.raises(DBAPIError), backend.transaction() as db:  # other columns: refused
        db.execute(update(AuditEvent).values(event="y", pseudonymised_at=now))
    with pytest.raises(DBAPIError), backend.transaction() as db:  # a key added: refused
        db.execute(update(AuditEvent).values(details={"fields": "a", "new": 1},
                                             pseudonymised_at=now))
    with pytest.raises(DBAPIError), backend.transaction() as db:  # without the marker
        db.execute(update(AuditEvent).values(details={"fields": "a"}))
    with backend.transaction() as db:  # keys removed, marked once: allowed
        db.execute(update(AuditEvent).values(details={"fields": "a"}, pseudonymised_at=now))
    with pytest.raises(DBAPIError), backend.transaction() as db:  # a second time: refused
        db.execute(update(AuditEvent).values(details={}, pseudonymised_at=now))
    with pytest.raises(DBAPIError), backend.transaction() as db:
        db.execute(text("DELETE FROM audit_log"))
    with pytest.raises(DBAPIError), backend.transaction() as db:  # window before the row
        db.add(AuditPurgeWindow(purge_before=now))
        db.flush()
        db.execute(text("DELETE FROM audit_log"))
    with backend.transaction() as db:
        db.add(AuditPurgeWindow(purge_before=now + dt.timedelta(seconds=1)))
        db.flush()
        db.execute(text("DELETE FROM audit_log"))
        db.execute(text("DELETE FROM audit_purge_window"))
    with backend.transaction() as db:
        assert db.get(AuditEvent, entry_id) is None
