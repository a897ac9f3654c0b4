"""Organisations (guide 003): self-registration with super-admin approval, direct adds, roles,
removal, housekeeping — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from welcome_helpers import make_customer

from db.models import Account, AuditEvent, Consent, Membership, OutboxMail, Session
from services import accounts, mail, organisations, sessions
from services.caller import Caller
from services.demo import load_demo
from services.errors import DomainError, NotAllowed, NotFound, Throttled, ValidationFailed

KK_PASSWORD = "Praxisschild-Isar-Wolke-2026"
NEW_PASSWORD = "Zitronenfalter-Wiese-Himmel-77"
CALLER = Caller(terminal_id="kiosk-7")
APPLICANT = {"email": "mia.berg@example.de", "customer_number": "300001",
             "postal_code": "80331", "first_name": "Mia", "last_name": "Berg",
             "privacy": True, "marketing": False}


def load_company(backend) -> None:
    """The demo data without its waiting applicant: the tests count the queue themselves."""
    from services.demo import APPLICANT as DEMO_APPLICANT

    load_demo(backend)
    with backend.transaction() as db:
        account_id = db.scalar(select(Account.id).where(Account.email == DEMO_APPLICANT[0]))
        db.execute(delete(Membership).where(Membership.account_id == account_id))
        db.execute(delete(Account).where(Account.id == account_id))


@pytest.fixture
def demo(backend):
    load_company(backend)
    return backend


def login(backend, user: str = "kkoehler", password: str = KK_PASSWORD) -> str:
    token = accounts.login(backend, user, password, CALLER).token
    sessions.reauthenticate(backend, token, password)
    return token


def company_id(backend, number: str = "300001") -> int:
    from db.models import Customer

    with backend.transaction() as db:
        return db.scalar(select(Customer.id).where(Customer.number == number))


def last_mail(backend, template: str, to: str | None = None) -> OutboxMail:
    with backend.transaction() as db:
        rows = [m for m in mail.outbox(db) if m.template == template and (to is None or m.to == to)]
        assert rows, f"no mail {template} to {to}"
        db.expunge_all()
        return rows[-1]


def count_mails(backend, template: str) -> int:
    with backend.transaction() as db:
        return db.scalar(select(func.count(OutboxMail.id)).where(OutboxMail.template == template))


def membership_of(backend, email: str) -> Membership:
    with backend.transaction() as db:
        row = db.scalars(select(Membership).where(Membership.email_key == email)).one()
        db.expunge(row)
        return row


def apply_and_confirm(backend, email: str = "mia.berg@example.de") -> organisations.CodeResult:
    organisations.submit_registration(backend, {**APPLICANT, "email": email}, CALLER)
    code = last_mail(backend, "org_confirm", email).params["code"]
    return organisations.redeem_code(backend, email, code, CALLER)


def complete(backend, email: str, template: str = "org_complete") -> None:
    code = last_mail(backend, template, email).params["code"]
    started = organisations.redeem_code(backend, email, code, CALLER)
    assert started.stage == "complete" and started.finish
    organisations.complete_registration(
        backend, email, started.finish,
        {"terms": True, "privacy": True, "password": NEW_PASSWORD,
         "password_confirm": NEW_PASSWORD}, CALLER)


# --------------------------------------------------------------------------- self-registration


def test_whole_path_from_request_to_first_login(demo) -> None:
    match = organisations.check_company(demo, APPLICANT, CALLER)
    assert match.company == "Praxis Dr. Köhler GmbH" and match.customer_number == "300001"
    result = organisations.submit_registration(demo, APPLICANT, CALLER)
    assert result.params == {"email": "mia.berg@example.de"}
    confirm = last_mail(demo, "org_confirm", "mia.berg@example.de")
    assert confirm.params["code"] in confirm.body and "/org/confirm/" in confirm.params["link"]
    # a stub account that cannot log in yet
    with pytest.raises(DomainError):
        accounts.login(demo, "mia.berg@example.de", NEW_PASSWORD, CALLER)
    waiting = organisations.redeem_code(demo, "MIA.BERG@example.de ", confirm.params["code"],
                                        CALLER)
    assert waiting.stage == "waiting" and waiting.message == organisations.MSG_WAITING
    notice = last_mail(demo, "org_request_notify", "dr.koehler@example.de")
    assert "Mia Berg" in notice.body and "mia.berg@example.de" in notice.body
    token = login(demo)
    cid = company_id(demo)
    page = organisations.pending_requests(demo, token, cid)
    assert page.total == 1 and page.items[0].name == "Mia Berg"
    assert page.items[0].customer_number == "300001"
    decided = organisations.decide(demo, token, cid, page.items[0].id, True, None, CALLER)
    assert decided.params == {"name": "Mia Berg"}
    complete(demo, "mia.berg@example.de")
    session = accounts.login(demo, "mia.berg@example.de", NEW_PASSWORD, CALLER)
    assert session.display_name == "Mia Berg"
    assert membership_of(demo, "mia.berg@example.de").state == "active"
    with demo.transaction() as db:
        kinds = sorted(c.kind for c in db.scalars(select(Consent).join(
            Account, Account.id == Consent.account_id).where(
            Account.email_key == "mia.berg@example.de")))
        events = [e.event for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        details = str([e.details for e in db.scalars(select(AuditEvent))])
    assert kinds == ["marketing", "privacy", "privacy", "terms"]
    for event in ("org_register_check", "org_registration", "org_request_confirmed",
                  "org_request_decided", "org_completion_started", "org_completion"):
        assert event in events
    assert confirm.params["code"] not in details


def test_mismatch_is_neutral_and_limited_per_terminal(demo) -> None:
    make_customer(demo, "300002", last_name="Solo", postal_code="80331")  # a private customer
    cases = [{**APPLICANT, "customer_number": "999999"},           # unknown number
             {**APPLICANT, "postal_code": "80333"},                # wrong postal code
             {**APPLICANT, "customer_number": "300002"}]           # not a company
    messages = set()
    for data in cases:
        with pytest.raises(DomainError) as err:
            organisations.check_company(demo, data, CALLER)
        messages.add((err.value.message, tuple(err.value.fields)))
    assert messages == {(organisations.MSG_MISMATCH, ())}
    for _ in range(2):
        with pytest.raises(DomainError):
            organisations.check_company(demo, cases[0], CALLER)
    with pytest.raises(Throttled):  # five failures: this terminal waits, even when right
        organisations.check_company(demo, APPLICANT, CALLER)
    other = Caller(terminal_id="kiosk-8")
    assert organisations.check_company(demo, APPLICANT, other).company


def test_field_errors_are_reported_together(demo) -> None:
    with pytest.raises(ValidationFailed) as err:
        organisations.submit_registration(
            demo, {"email": "nope", "customer_number": " ", "postal_code": "",
                   "first_name": "", "last_name": "Berg", "privacy": False}, CALLER)
    assert set(err.value.fields) == {"email", "customer_number", "postal_code", "first_name",
                                     "privacy"}
    assert err.value.fields["privacy"] == organisations.MSG_PRIVACY


def test_registered_address_gets_same_answer_and_a_mail(demo) -> None:
    data = {**APPLICANT, "email": "Anna.Mueller@example.de"}
    result = organisations.submit_registration(demo, data, CALLER)
    assert result.message == organisations.MSG_REGISTERED
    assert last_mail(demo, "org_account_exists", "anna.mueller@example.de")
    assert count_mails(demo, "org_confirm") == 0
    with demo.transaction() as db:
        assert db.scalar(select(func.count(Membership.id)).where(
            Membership.email_key == "anna.mueller@example.de")) == 0


def test_repeated_submit_sends_a_new_confirmation_code(demo) -> None:
    organisations.submit_registration(demo, APPLICANT, CALLER)
    first = last_mail(demo, "org_confirm").params["code"]
    organisations.submit_registration(demo, APPLICANT, CALLER)
    second = last_mail(demo, "org_confirm").params["code"]
    assert first != second
    with pytest.raises(ValidationFailed):
        organisations.redeem_code(demo, APPLICANT["email"], first, CALLER)
    assert organisations.redeem_code(demo, APPLICANT["email"], second, CALLER).stage == "waiting"


def test_wrong_codes_die_after_five_tries(demo) -> None:
    organisations.submit_registration(demo, APPLICANT, CALLER)
    code = last_mail(demo, "org_confirm").params["code"]
    for _ in range(5):
        with pytest.raises(ValidationFailed) as err:
            organisations.redeem_code(demo, APPLICANT["email"], "WRONGCODE9", CALLER)
        assert err.value.fields == {"code": accounts.MSG_CODE_INVALID}
    with pytest.raises(ValidationFailed):
        organisations.redeem_code(demo, APPLICANT["email"], code, CALLER)
    # an unknown address gets exactly the same answer
    with pytest.raises(ValidationFailed) as err:
        organisations.redeem_code(demo, "nobody@example.de", code, CALLER)
    assert err.value.fields == {"code": accounts.MSG_CODE_INVALID}


def test_resend_is_neutral_and_once_a_minute(demo, clock) -> None:
    assert organisations.resend_code(demo, "nobody@example.de", CALLER).message == \
        organisations.MSG_RESENT
    organisations.submit_registration(demo, APPLICANT, CALLER)
    organisations.resend_code(demo, APPLICANT["email"], CALLER)
    assert count_mails(demo, "org_confirm") == 2
    with pytest.raises(Throttled):
        organisations.resend_code(demo, APPLICANT["email"], CALLER)
    clock.advance(seconds=61)
    organisations.resend_code(demo, APPLICANT["email"], CALLER)
    assert count_mails(demo, "org_confirm") == 3


def test_rejection_mails_the_reason_and_frees_the_address(demo) -> None:
    apply_and_confirm(demo)
    token = login(demo)
    cid = company_id(demo)
    request = organisations.pending_requests(demo, token, cid).items[0]
    organisations.decide(demo, token, cid, request.id, False, "Nicht bei uns beschäftigt",
                         CALLER)
    rejected = last_mail(demo, "org_rejected", "mia.berg@example.de")
    assert "Nicht bei uns beschäftigt" in rejected.body
    assert membership_of(demo, "mia.berg@example.de").state == "rejected"
    with demo.transaction() as db:
        assert db.scalar(select(Account.id).where(
            Account.email_key == "mia.berg@example.de")) is None
    # the address can register again
    assert apply_and_confirm(demo).stage == "waiting"
    assert membership_of(demo, "mia.berg@example.de").reason is None


def test_completion_checks_password_terms_and_privacy(demo) -> None:
    apply_and_confirm(demo)
    token = login(demo)
    cid = company_id(demo)
    request = organisations.pending_requests(demo, token, cid).items[0]
    organisations.decide(demo, token, cid, request.id, True, "", CALLER)
    code = last_mail(demo, "org_complete").params["code"]
    started = organisations.redeem_code(demo, APPLICANT["email"], code, CALLER)
    with pytest.raises(ValidationFailed) as err:
        organisations.complete_registration(
            demo, APPLICANT["email"], started.finish,
            {"terms": False, "privacy": False, "password": "kurz", "password_confirm": "x"},
            CALLER)
    assert set(err.value.fields) == {"terms", "privacy", "password", "password_confirm"}
    with pytest.raises(ValidationFailed) as err:  # contains the name
        organisations.complete_registration(
            demo, APPLICANT["email"], started.finish,
            {"terms": True, "privacy": True, "password": "Mia-Berg-Sommer-Regen-12",
             "password_confirm": "Mia-Berg-Sommer-Regen-12"}, CALLER)
    assert "password" in err.value.fields
    with pytest.raises(DomainError) as err:
        organisations.complete_registration(
            demo, APPLICANT["email"], "WRONGFINISH", {"terms": True, "privacy": True,
                                                      "password": NEW_PASSWORD,
                                                      "password_confirm": NEW_PASSWORD}, CALLER)
    assert err.value.message == organisations.MSG_FINISH_EXPIRED
    # the completion code was used; a new one can be requested
    organisations.resend_code(demo, APPLICANT["email"], CALLER)
    complete(demo, APPLICANT["email"])
    assert accounts.login(demo, APPLICANT["email"], NEW_PASSWORD, CALLER).token


# --------------------------------------------------------------------------- admins


def test_two_super_admins_deciding_at_once_one_wins(demo) -> None:
    token = login(demo)
    cid = company_id(demo)
    organisations.add_contact(demo, token, cid, {"first_name": "Otto", "last_name": "Zweit",
                                                 "email": "otto@example.de",
                                                 "role": "super_admin"}, CALLER)
    complete(demo, "otto@example.de")
    other = login(demo, "otto@example.de", NEW_PASSWORD)
    apply_and_confirm(demo)
    request = organisations.pending_requests(demo, token, cid).items[0]
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def decide(tok: str, approve: bool) -> None:
        barrier.wait()
        try:
            outcomes.append(organisations.decide(demo, tok, cid, request.id, approve, None,
                                                 CALLER))
        except DomainError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=decide, args=(token, True)),
               threading.Thread(target=decide, args=(other, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(outcomes) == 2 and len(errors) == 1
    assert isinstance(errors[0], organisations.AlreadyDecided)
    state = membership_of(demo, "mia.berg@example.de").state
    assert state in ("approved", "rejected")
    assert count_mails(demo, "org_complete") + count_mails(demo, "org_rejected") == 2  # otto + 1


def test_admin_of_one_company_never_sees_another(demo) -> None:
    other_id = make_customer(demo, "300009", last_name="Andere", postal_code="10115",
                             ctype="company", company="Andere GmbH")
    organisations.submit_registration(demo, {**APPLICANT, "customer_number": "300009",
                                             "postal_code": "10115"}, CALLER)
    code = last_mail(demo, "org_confirm").params["code"]
    organisations.redeem_code(demo, APPLICANT["email"], code, CALLER)
    token = login(demo)
    request_id = membership_of(demo, "mia.berg@example.de").id
    assert [o.number for o in organisations.my_organisations(demo, token)] == ["300001"]
    with pytest.raises(NotAllowed):
        organisations.pending_requests(demo, token, other_id)
    with pytest.raises(NotAllowed):
        organisations.members(demo, token, other_id)
    with pytest.raises(NotAllowed):
        organisations.decide(demo, token, other_id, request_id, True, None, CALLER)
    # through its own company id the other company's request is simply not there
    with pytest.raises(NotFound):
        organisations.decide(demo, token, company_id(demo), request_id, True, None, CALLER)
    assert membership_of(demo, "mia.berg@example.de").state == "pending_approval"
    assert count_mails(demo, "org_request_notify") == 0  # no super admin there


def test_plain_member_cannot_administer(demo) -> None:
    token = login(demo)
    cid = company_id(demo)
    organisations.add_contact(demo, token, cid, {"first_name": "Max", "last_name": "Glied",
                                                 "email": "max.glied@example.de"}, CALLER)
    complete(demo, "max.glied@example.de")
    member = login(demo, "max.glied@example.de", NEW_PASSWORD)
    assert organisations.my_organisations(demo, member) == []
    with pytest.raises(NotAllowed):
        organisations.members(demo, member, cid)
    with pytest.raises(NotAllowed):
        organisations.add_contact(demo, member, cid, {"first_name": "A", "last_name": "B",
                                                      "email": "a@example.de"}, CALLER)


def test_direct_add_roles_and_removal(demo) -> None:
    token = login(demo)
    cid = company_id(demo)
    result = organisations.add_contact(demo, token, cid, {
        "first_name": "Lena", "last_name": "Admin", "email": "lena@example.de",
        "role": "admin"}, CALLER)
    assert result.params == {"name": "Lena Admin", "email": "lena@example.de"}
    invite = last_mail(demo, "org_complete", "lena@example.de")
    assert "Praxis Dr. Köhler GmbH" in invite.body
    with pytest.raises(ValidationFailed) as err:
        organisations.add_contact(demo, token, cid, {"first_name": "Lena", "last_name": "Admin",
                                                     "email": "LENA@example.de"}, CALLER)
    assert err.value.fields == {"email": organisations.MSG_ALREADY_MEMBER}
    listed = organisations.members(demo, token, cid)
    assert [(m.name, m.role, m.state) for m in listed] == [
        ("Katrin Köhler", "super_admin", "active"), ("Lena Admin", "admin", "invited")]
    assert listed[0].is_self
    complete(demo, "lena@example.de")
    lena = login(demo, "lena@example.de", NEW_PASSWORD)
    kk = next(m for m in organisations.members(demo, lena, cid) if m.role == "super_admin")
    # an admin cannot touch a super admin, nor make one
    with pytest.raises(NotAllowed):
        organisations.remove_member(demo, lena, cid, kk.id, CALLER)
    with pytest.raises(NotAllowed):
        organisations.add_contact(demo, lena, cid, {"first_name": "S", "last_name": "A",
                                                    "email": "sa@example.de",
                                                    "role": "super_admin"}, CALLER)
    # the last super admin stays
    with pytest.raises(organisations.LastSuperAdmin):
        organisations.remove_member(demo, token, cid, kk.id, CALLER)
    with pytest.raises(organisations.LastSuperAdmin):
        organisations.change_role(demo, token, cid, kk.id, "member", CALLER)
    lena_id = membership_of(demo, "lena@example.de").id
    changed = organisations.change_role(demo, token, cid, lena_id, "super_admin", CALLER)
    assert changed.params["role"] == "super_admin"
    organisations.change_role(demo, token, cid, kk.id, "admin", CALLER)  # now allowed
    organisations.change_role(demo, lena, cid, kk.id, "super_admin", CALLER)
    # removal ends Lena's sessions
    organisations.remove_member(demo, token, cid, lena_id, CALLER)
    assert membership_of(demo, "lena@example.de").state == "removed"
    with pytest.raises(sessions.SessionExpired):
        sessions.current(demo, lena)
    with demo.transaction() as db:
        assert db.scalar(select(func.count(Session.id)).join(
            Account, Account.id == Session.account_id).where(
            Account.email_key == "lena@example.de", Session.ended_at.is_(None))) == 0
        events = {e.event for e in db.scalars(select(AuditEvent))}
    assert {"org_contact_added", "org_role_changed", "org_member_removed"} <= events


def test_existing_account_added_joins_at_once(demo) -> None:
    token = login(demo)
    cid = company_id(demo)
    organisations.add_contact(demo, token, cid, {"first_name": "Erika", "last_name": "Neumann",
                                                 "email": "erika.neu@example.de"}, CALLER)
    assert last_mail(demo, "org_added", "erika.neu@example.de")
    assert membership_of(demo, "erika.neu@example.de").state == "active"


def test_sensitive_admin_actions_need_recent_password(demo, clock) -> None:
    token = login(demo)
    cid = company_id(demo)
    for _ in range(4):  # stay active, but the password is older than 5 minutes
        clock.advance(seconds=80)
        organisations.members(demo, token, cid)
    with pytest.raises(sessions.ReauthRequired):
        organisations.add_contact(demo, token, cid, {"first_name": "A", "last_name": "Bee",
                                                     "email": "a@example.de"}, CALLER)
    assert organisations.members(demo, token, cid)  # reading needs no re-entry


def test_keyset_pages_cover_the_queue_once(demo, clock) -> None:
    token = login(demo)
    cid = company_id(demo)
    with demo.transaction() as db:
        for i in range(7):
            db.add(Membership(customer_id=cid, email_key=f"p{i}@example.de", role="member",
                              state="pending_approval", created_at=clock()))
    seen: list[int] = []
    after = None
    while True:
        page = organisations.pending_requests(demo, token, cid, after=after, limit=3)
        assert page.total == 7
        seen += [r.id for r in page.items]
        after = page.next_after
        if after is None:
            break
    assert len(seen) == 7 == len(set(seen))


def test_housekeeping_reminds_after_3_days_and_expires_after_30(demo, clock) -> None:
    apply_and_confirm(demo)
    organisations.submit_registration(demo, {**APPLICANT, "email": "unconfirmed@example.de"},
                                      CALLER)
    clock.advance(days=2)
    assert organisations.housekeeping(demo) == organisations.HousekeepingReport()
    clock.advance(days=1, minutes=1)
    assert organisations.housekeeping(demo).reminded == 1
    reminder = last_mail(demo, "org_reminder", "dr.koehler@example.de")
    assert reminder.params["count"] == 1
    assert organisations.housekeeping(demo).reminded == 0  # once only
    clock.advance(days=5)
    report = organisations.housekeeping(demo)
    assert report.expired == 1  # the unconfirmed one after 7 days
    assert membership_of(demo, "unconfirmed@example.de").state == "expired"
    clock.advance(days=23)
    assert organisations.housekeeping(demo).expired == 1
    assert membership_of(demo, "mia.berg@example.de").state == "expired"
    assert last_mail(demo, "org_expired", "mia.berg@example.de")
    with demo.transaction() as db:
        assert db.scalar(select(func.count(Account.id)).where(
            Account.email_key.in_(("mia.berg@example.de", "unconfirmed@example.de")))) == 0


def test_imported_contact_without_account_is_preapproved(demo) -> None:
    from services.importer import import_lines

    import_lines(demo, ['{"kind": "membership", "customer_number": "300001", '
                        '"email": "vorab@example.de", "role": "admin"}'])
    organisations.submit_registration(demo, {**APPLICANT, "email": "vorab@example.de"}, CALLER)
    assert count_mails(demo, "org_confirm") == 0
    complete(demo, "vorab@example.de")
    member = membership_of(demo, "vorab@example.de")
    assert (member.state, member.role) == ("active", "admin")


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=st.text(max_size=600))
def test_reason_is_validated_never_crashes(sqlite_backend, reason) -> None:
    try:
        value = organisations._reason(reason)
    except ValidationFailed as exc:
        assert set(exc.fields) == {"reason"}
    else:
        assert value is None or (0 < len(value) <= organisations.MAX_REASON)


@settings(max_examples=40, deadline=None)
@given(number=st.text(max_size=40), postal=st.text(max_size=20), email=st.text(max_size=40))
def test_company_form_validation_never_crashes(number, postal, email) -> None:
    try:
        form = organisations.validate_company({"email": email, "customer_number": number,
                                               "postal_code": postal})
    except ValidationFailed as exc:
        assert set(exc.fields) <= {"email", "customer_number", "postal_code"}
    else:
        assert form.customer_number and form.postal_code


def test_links_on_the_web_work_once(demo) -> None:
    organisations.submit_registration(demo, APPLICANT, CALLER)
    link = last_mail(demo, "org_confirm").params["link"].rsplit("/", 1)[1]
    assert organisations.redeem_link(demo, link, CALLER).stage == "waiting"
    with pytest.raises(ValidationFailed):
        organisations.redeem_link(demo, link, CALLER)
    with pytest.raises(ValidationFailed):
        organisations.redeem_link(demo, "made-up-token", CALLER)
    token = login(demo)
    cid = company_id(demo)
    request = organisations.pending_requests(demo, token, cid).items[0]
    organisations.decide(demo, token, cid, request.id, True, None, CALLER)
    link = last_mail(demo, "org_complete").params["link"].rsplit("/", 1)[1]
    started = organisations.redeem_link(demo, link, CALLER)
    assert started.stage == "complete" and started.finish


def test_two_super_admins_removing_each_other_at_once_one_stays(demo) -> None:
    token = login(demo)
    cid = company_id(demo)
    organisations.add_contact(demo, token, cid, {"first_name": "Otto", "last_name": "Zweit",
                                                 "email": "otto@example.de",
                                                 "role": "super_admin"}, CALLER)
    complete(demo, "otto@example.de")
    other = login(demo, "otto@example.de", NEW_PASSWORD)
    kk_id = membership_of(demo, "dr.koehler@example.de").id
    otto_id = membership_of(demo, "otto@example.de").id
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def remove(tok: str, target: int) -> None:
        barrier.wait()
        try:
            outcomes.append(organisations.remove_member(demo, tok, cid, target, CALLER))
        except DomainError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=remove, args=(token, otto_id)),
               threading.Thread(target=remove, args=(other, kk_id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, organisations.Result) for o in outcomes) == 1
    assert all(isinstance(o, organisations.Result | NotAllowed | sessions.SessionExpired)
               for o in outcomes)
    with demo.transaction() as db:
        assert db.scalar(select(func.count(Membership.id)).where(
            Membership.customer_id == cid, Membership.role == "super_admin",
            Membership.state == "active")) == 1


# --------------------------------------------------------------------------- issue 19.2

def _company_with(backend, number: str, records: list[str]) -> None:
    """A company record (postal code 10115) with super admins known only from the records."""
    import json

    from services.importer import import_lines

    make_customer(backend, number, last_name="Werkstatt", postal_code="10115", ctype="company",
                  company=f"Werkstatt {number} GmbH")
    report = import_lines(backend, [json.dumps({"kind": "membership", "customer_number": number,
                                                "email": address, "role": "super_admin"})
                                    for address in records])
    assert not report.errors


def _apply_to(backend, number: str, email: str) -> organisations.CodeResult:
    data = {**APPLICANT, "email": email, "customer_number": number, "postal_code": "10115"}
    organisations.submit_registration(backend, data, CALLER)
    code = last_mail(backend, "org_confirm", email).params["code"]
    return organisations.redeem_code(backend, email, code, CALLER)


def test_super_admin_known_only_from_the_records_is_told_and_can_decide(demo) -> None:
    """Issue 19.2: the records' super admin had no portal account, so nobody was mailed while
    the applicant read "it now waits for the super admin"."""
    _company_with(demo, "300077", ["Chefin@Werkstatt.example"])
    waiting = _apply_to(demo, "300077", "geselle@werkstatt.example")
    assert waiting.stage == "waiting" and waiting.message == organisations.MSG_WAITING
    told = last_mail(demo, "org_request_notify_records", "chefin@werkstatt.example")
    assert "Mia Berg" in told.body and "Werkstatt 300077 GmbH" in told.body
    assert "chefin@werkstatt.example" in told.body and demo.settings.public_url in told.body
    # she registers with exactly that address, as the mail says, and decides
    accounts.register(demo, {"customer_type": "company", "email": "chefin@werkstatt.example",
                             "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD,
                             "first_name": "Clara", "last_name": "Chef", "street": "Hof 1",
                             "postal_code": "10115", "city": "Berlin", "terms": True},
                      CALLER)
    code = last_mail(demo, "verify_email", "chefin@werkstatt.example").params["code"]
    accounts.verify_email(demo, "chefin@werkstatt.example", code, CALLER)
    member = membership_of(demo, "chefin@werkstatt.example")
    assert (member.role, member.state, member.account_id is not None) == (
        "super_admin", "active", True)
    token = login(demo, "chefin@werkstatt.example", NEW_PASSWORD)
    cid = company_id(demo, "300077")
    page = organisations.pending_requests(demo, token, cid)
    assert [r.email for r in page.items] == ["geselle@werkstatt.example"]
    organisations.decide(demo, token, cid, page.items[0].id, True, None, CALLER)
    assert membership_of(demo, "geselle@werkstatt.example").state == "approved"


def test_company_without_a_reachable_super_admin_goes_to_the_desk(demo) -> None:
    from test_backoffice import agent_token

    from services import backoffice

    _company_with(demo, "300078", [])
    waiting = _apply_to(demo, "300078", "allein@werkstatt.example")
    assert waiting.message == organisations.MSG_WAITING_DESK
    assert count_mails(demo, "org_request_notify") == 0
    assert count_mails(demo, "org_request_notify_records") == 0
    token = agent_token(demo)
    assert backoffice.queue_counts(demo, token)[backoffice.STALE_ORG] == 1
    items = backoffice.queue_items(demo, token, backoffice.STALE_ORG)
    assert [i.customer_number for i in items] == ["300078"]
    # a company whose super admin is reachable still waits 3 days before the desk sees it
    apply_and_confirm(demo)
    assert backoffice.queue_counts(demo, token)[backoffice.STALE_ORG] == 1
