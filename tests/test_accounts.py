"""Accounts services on SQLite and PostgreSQL: registration, confirmation, login, reset, changes."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from pilot import agent_login
from sqlalchemy import func, select

from db.models import (
    Account,
    AuditEvent,
    Consent,
    Customer,
    CustomerLink,
    EmailToken,
    SupportRequest,
    Throttle,
)
from services import accounts, agents, sessions, throttle
from services.accounts import EmailNotVerified
from services.backend import Caller
from services.crypto import PasswordHasher
from services.errors import AuthFailed, Conflict, Throttled, ValidationFailed
from services.mail import outbox

CALLER = Caller(terminal_id="kiosk-1", language="de")
PW = "blauer Kaffeebecher am Fenster"
PW2 = "grüne Gießkanne im Gartenhaus"


def form(**over):
    data = dict(
        type="private", username="maxmuster", email="Max.Muster@Example.com", password=PW,
        password_confirm=PW, salutation="Herr", first_name="Max", last_name="Müller",
        street="Hauptstr. 1", postal_code="34117", city="Kassel", country="DE",
        customer_number=None, terms=True, marketing=False,
    )
    data.update(over)
    return data


def mails(backend, template=None, to=None):
    with backend.transaction() as db:
        found = outbox(db)
    return [m for m in found if (template is None or m.template == template)
            and (to is None or m.to.lower() == to.lower())]


def last_code(backend, template="verify_email"):
    return mails(backend, template)[-1].params["code"]


def count(backend, model, *where):
    with backend.transaction() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


def register_and_verify(backend, **over):
    accounts.register(backend, form(**over), CALLER)
    data = form(**over)
    accounts.verify_email(backend, data["email"], last_code(backend), CALLER)
    with backend.transaction() as db:
        return db.scalars(select(Account).where(
            Account.email_key == data["email"].lower())).one()


# --------------------------------------------------------------------------- registration


def test_register_valid_stores_account_consents_token_and_mail(backend):
    result = accounts.register(backend, form(marketing=True), CALLER)
    assert result.next_step == "verify"
    assert result.identifier == "maxmuster"
    with backend.transaction() as db:
        account = db.scalars(select(Account)).one()
        assert account.status == "unverified"
        assert account.email_key == "max.muster@example.com"
        assert account.username_key == "maxmuster"
        assert account.password_hash.startswith("$argon2id$")
        consents = {c.kind: c for c in db.scalars(select(Consent))}
        assert consents["terms"].granted and consents["terms"].text_version == "2026-01"
        assert consents["marketing"].granted is True
        assert consents["privacy"].terminal_id == "kiosk-1"
        token = db.scalars(select(EmailToken)).one()
        assert token.purpose == "verify_email"
        assert token.expires_at - token.created_at == dt.timedelta(minutes=30)
    sent = mails(backend, "verify_email")
    assert len(sent) == 1
    code = sent[0].params["code"]
    assert len(code) >= 8 and set(code) <= set("ACDEFGHJKMNPQRTUVWXY34679")
    assert sent[0].params["link"].startswith(backend.settings.public_url + "/verify/")
    assert code not in token.code_digest and code in sent[0].body
    assert sent[0].subject.startswith("Bitte bestätigen")
    with backend.transaction() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.event == "registration")).one()
        assert code not in str(event.details) and PW not in str(event.details)


def test_register_collects_all_field_errors_and_stores_nothing(backend):
    data = form(type="alien", username="a b", email="not-an-email", password="short",
                password_confirm="other", first_name="", last_name="  ", street="",
                postal_code="1234", city="", country="XX", customer_number="?!", terms=False)
    with pytest.raises(ValidationFailed) as info:
        accounts.register(backend, data, CALLER)
    fields = info.value.fields
    assert set(fields) == {"type", "username", "email", "password", "first_name",
                           "last_name", "street", "postal_code", "city", "country",
                           "customer_number", "terms"}
    assert fields["first_name"] == "This field must not be empty."
    assert fields["password"] == "The password must have at least 15 characters."
    assert count(backend, Account) == 0 and not mails(backend)
    assert backend.hasher.calls == 0


def test_register_cross_field_errors(backend):
    with pytest.raises(ValidationFailed) as info:
        accounts.register(backend, form(password="Max Müller wohnt in Kassel",
                                        password_confirm="x", postal_code="1010",
                                        country="AT"), CALLER)
    assert info.value.fields["password"] == "The password must not contain your first or last name."
    assert "postal_code" not in info.value.fields  # 4 digits fit Austria
    with pytest.raises(ValidationFailed) as info:
        accounts.register(backend, form(password_confirm=PW + "x"), CALLER)
    assert info.value.fields == {"password_confirm": "The passwords do not match."}


def test_username_optional_email_is_identifier(backend):
    result = accounts.register(backend, form(username=""), CALLER)
    assert result.identifier == "Max.Muster@example.com"
    with backend.transaction() as db:
        assert db.scalars(select(Account)).one().username_key is None


def test_duplicate_email_same_result_same_work_and_owner_mail(backend):
    first = accounts.register(backend, form(), CALLER)
    calls = backend.hasher.calls
    second = accounts.register(backend, form(username="", email="max.muster@EXAMPLE.com",
                                             first_name="Eva"), CALLER)
    assert backend.hasher.calls - calls == calls == 1
    assert first.message == second.message and first.next_step == second.next_step
    assert count(backend, Account) == 1
    owner = mails(backend, "account_exists")
    assert len(owner) == 1 and owner[0].to == "Max.Muster@example.com"
    assert len(mails(backend, "verify_email")) == 1


def test_username_taken(backend):
    accounts.register(backend, form(), CALLER)
    with pytest.raises(ValidationFailed) as info:
        accounts.register(backend, form(username="MaxMuster", email="other@example.com"), CALLER)
    assert "username" in info.value.fields


def test_concurrent_registrations_create_one_account(backend):
    errors = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            accounts.register(backend, form(username=""), CALLER)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(backend, Account) == 1
    assert len(mails(backend, "verify_email")) == 1
    assert len(mails(backend, "account_exists")) == 1


# --------------------------------------------------------------------------- confirmation


def test_verify_with_code_from_outbox(backend, clock):
    accounts.register(backend, form(), CALLER)
    with pytest.raises(EmailNotVerified):
        accounts.login(backend, "maxmuster", PW, CALLER)
    code = last_code(backend)
    result = accounts.verify_email(backend, "MAXMUSTER", code.lower(), CALLER)
    assert result.address_review is True  # no customer number: checked by hand
    with backend.transaction() as db:
        assert db.scalars(select(Account)).one().status == "active"
        review = db.scalars(select(SupportRequest)).one()
        assert review.kind == "address_review" and review.details["reason"] == "no_number"
    assert mails(backend, "address_review")
    with pytest.raises(ValidationFailed):  # works once
        accounts.verify_email(backend, "maxmuster", code, CALLER)
    assert accounts.login(backend, "maxmuster", PW, CALLER).token


def test_code_expires_after_30_minutes(backend, clock):
    accounts.register(backend, form(), CALLER)
    clock.advance(minutes=30, seconds=1)
    with pytest.raises(ValidationFailed) as info:
        accounts.verify_email(backend, "maxmuster", last_code(backend), CALLER)
    assert info.value.fields == {"code": accounts.MSG_CODE_INVALID}


def test_five_wrong_tries_kill_the_code_and_resend_keeps_count(backend, clock):
    accounts.register(backend, form(), CALLER)
    code = last_code(backend)
    for _ in range(3):
        with pytest.raises(ValidationFailed):
            accounts.verify_email(backend, "maxmuster", "WRONGCODE9", CALLER)
    # resend: at most once a minute
    clock.advance(seconds=61)
    accounts.resend_verification(backend, "maxmuster", CALLER)
    with pytest.raises(Throttled):
        accounts.resend_verification(backend, "maxmuster", CALLER)
    new = last_code(backend)
    assert new != code
    with backend.transaction() as db:
        live = db.scalars(select(EmailToken).where(EmailToken.revoked_at.is_(None))).one()
        assert live.failed_attempts == 3  # the count is kept
    for _ in range(2):
        with pytest.raises(ValidationFailed):
            accounts.verify_email(backend, "maxmuster", "WRONGCODE9", CALLER)
    with pytest.raises(ValidationFailed):  # dead now, even with the right code
        accounts.verify_email(backend, "maxmuster", new, CALLER)
    with pytest.raises(ValidationFailed):  # the old code was revoked by the resend
        accounts.verify_email(backend, "maxmuster", code, CALLER)
    clock.advance(seconds=61)
    with pytest.raises(Throttled):  # no fresh tries while the dead code is still valid
        accounts.resend_verification(backend, "maxmuster", CALLER)
    clock.advance(minutes=31)
    accounts.resend_verification(backend, "maxmuster", CALLER)
    accounts.verify_email(backend, "maxmuster", last_code(backend), CALLER)


def test_resend_unknown_identifier_same_answer(backend):
    result = accounts.resend_verification(backend, "nobody@example.com", CALLER)
    assert result.message == accounts.MSG_RESENT and not mails(backend)


def test_verify_by_link(backend):
    accounts.register(backend, form(), CALLER)
    link = mails(backend, "verify_email")[-1].params["link"].rsplit("/", 1)[1]
    accounts.verify_email_link(backend, link, CALLER)
    with pytest.raises(ValidationFailed):
        accounts.verify_email_link(backend, link, CALLER)


def _customer(backend, number="K-100200", last_name="Mueller", postal_code="34117", ctype="private"):
    with backend.transaction() as db:
        db.add(Customer(number=number, type=ctype, last_name=last_name, postal_code=postal_code,
                        country="DE"))


def test_customer_number_linked_when_it_matches(backend):
    _customer(backend)
    account = register_and_verify(backend, customer_number="k-100 200")
    with backend.transaction() as db:
        link = db.scalars(select(CustomerLink)).one()
        assert link.account_id == account.id and link.linked_by == "registration"
        assert count(backend, SupportRequest) == 0
    assert mails(backend, "customer_number_linked")[0].params["number"] == "K-100200"


@pytest.mark.parametrize("number,last_name,postal", [
    ("K-100200", "Schmidt", "34117"), ("K-100200", "Müller", "34119"), ("K-999", "Müller", "34117"),
])
def test_customer_number_mismatch_goes_to_review(backend, number, last_name, postal):
    _customer(backend)
    register_and_verify(backend, customer_number=number, last_name=last_name,
                        postal_code=postal)
    assert count(backend, CustomerLink) == 0
    with backend.transaction() as db:
        review = db.scalars(select(SupportRequest)).one()
    assert review.kind == "address_review" and review.details["customer_number"] == number


def test_customer_number_already_linked_goes_to_review(backend):
    _customer(backend)
    register_and_verify(backend, customer_number="K-100200")
    register_and_verify(backend, customer_number="K-100200", username="zweiter",
                        email="zweiter@example.com")
    assert count(backend, CustomerLink) == 1
    with backend.transaction() as db:
        assert db.scalars(select(SupportRequest)).one().details["reason"] == "taken"


# --------------------------------------------------------------------------- login


def test_login_by_username_and_email_any_case_nfkc(backend):
    register_and_verify(backend)
    assert accounts.login(backend, "ＭＡＸＭＵＳＴＥＲ", PW, CALLER).kind == "customer"
    result = accounts.login(backend, "  MAX.MUSTER@example.COM ", PW, CALLER)
    assert result.display_name == "Max Müller"
    info = sessions.current(backend, result.token)
    assert info.account_id == result.account_id


def test_unknown_and_wrong_password_same_message_and_work(backend):
    register_and_verify(backend)
    before = backend.hasher.calls
    with pytest.raises(AuthFailed) as unknown:
        accounts.login(backend, "nobody", PW, CALLER)
    unknown_calls = backend.hasher.calls - before
    before = backend.hasher.calls
    with pytest.raises(AuthFailed) as wrong:
        accounts.login(backend, "maxmuster", PW + "!", CALLER)
    assert backend.hasher.calls - before == unknown_calls == 1
    assert str(unknown.value) == str(wrong.value)
    assert unknown.value.fields == wrong.value.fields


def test_agents_cannot_use_customer_login(backend):
    agents.create_agent(backend, "desk.anna", "agent", PW)
    with pytest.raises(AuthFailed):
        accounts.login(backend, "desk.anna", PW, CALLER)
    assert agent_login(backend, "desk.anna", PW, CALLER).kind == "agent"


def test_waits_double_and_correct_password_refused_during_wait(backend, clock):
    register_and_verify(backend)
    for _ in range(5):
        with pytest.raises(AuthFailed):
            accounts.login(backend, "maxmuster", "falsches Passwort 123", CALLER)
    with pytest.raises(Throttled) as info:
        accounts.login(backend, "maxmuster", PW, CALLER)
    assert info.value.params["seconds"] == 60
    clock.advance(seconds=61)
    with pytest.raises(AuthFailed):
        accounts.login(backend, "maxmuster", "falsches Passwort 123", CALLER)
    with pytest.raises(Throttled) as info:
        accounts.login(backend, "maxmuster", PW, CALLER)
    assert info.value.params["seconds"] == 120
    clock.advance(seconds=121)
    assert accounts.login(backend, "maxmuster", PW, CALLER).token
    with backend.transaction() as db:
        assert db.scalars(select(Throttle).where(Throttle.scope == "account")).first() is None


def test_unknown_identifiers_are_throttled_alike(backend):
    for _ in range(5):
        with pytest.raises(AuthFailed):
            accounts.login(backend, "ghost", "irgendein Passwort 1", CALLER)
    with pytest.raises(Throttled):
        accounts.login(backend, "ghost", "irgendein Passwort 1", CALLER)


def test_lockout_after_100_failures_and_reset_unlocks(backend, clock):
    account = register_and_verify(backend)
    with backend.transaction() as db:
        db.add(Throttle(action="login", scope="account", key=f"a{account.id}", failures=99,
                        window_start=clock.now))
    with pytest.raises(AuthFailed):
        accounts.login(backend, "maxmuster", "falsches Passwort 123", CALLER)
    with backend.transaction() as db:
        assert db.get(Account, account.id).status == "locked"
        assert db.scalars(select(AuditEvent).where(AuditEvent.event == "account_locked")).one()
    clock.advance(hours=2)
    calls = backend.hasher.calls
    with pytest.raises(AuthFailed) as info:  # same message, same work
        accounts.login(backend, "maxmuster", PW, CALLER)
    assert backend.hasher.calls - calls == 1
    assert str(info.value) == accounts.MSG_LOGIN_FAILED
    accounts.request_password_reset(backend, "maxmuster", CALLER)
    accounts.reset_password(backend, "maxmuster", last_code(backend, "password_reset"), PW2,
                            CALLER)
    assert accounts.login(backend, "maxmuster", PW2, CALLER).token


def test_terminal_limit(backend, clock):
    with backend.transaction() as db:
        db.add(Throttle(action="login", scope="terminal", key="kiosk-1", failures=27,
                        window_start=clock.now))
    for i in range(3):
        with pytest.raises(AuthFailed):
            accounts.login(backend, f"user{i}", "irgendein Passwort 1", CALLER)
    with pytest.raises(Throttled) as info:
        accounts.login(backend, "other", "irgendein Passwort 1", CALLER)
    assert info.value.fields == {"identifier": throttle.MSG_TERMINAL_WAIT}
    other = Caller(terminal_id="kiosk-2")
    with pytest.raises(AuthFailed):
        accounts.login(backend, "other", "irgendein Passwort 1", other)
    clock.advance(minutes=16)  # the window is over
    with pytest.raises(AuthFailed):
        accounts.login(backend, "other", "irgendein Passwort 1", CALLER)


def test_rehash_on_login_when_parameters_change(backend):
    register_and_verify(backend)
    backend.hasher = PasswordHasher(memory_kib=19 * 1024, time_cost=3, parallelism=1)
    accounts.login(backend, "maxmuster", PW, CALLER)
    with backend.transaction() as db:
        assert "t=3" in db.scalars(select(Account)).one().password_hash
    assert accounts.login(backend, "maxmuster", PW, CALLER).token


# --------------------------------------------------------------------------- reset and changes


def test_reset_flow_same_answer_no_login_ends_sessions(backend):
    register_and_verify(backend)
    token = accounts.login(backend, "maxmuster", PW, CALLER).token
    known = accounts.request_password_reset(backend, "max.muster@example.com", CALLER)
    unknown = accounts.request_password_reset(backend, "nobody@example.com", CALLER)
    assert known == unknown
    assert len(mails(backend, "password_reset")) == 1
    code = last_code(backend, "password_reset")
    with pytest.raises(ValidationFailed) as info:
        accounts.reset_password(backend, "maxmuster", code, "Max Müller hat Geburtstag",
                                CALLER)
    assert "new_password" in info.value.fields
    with pytest.raises(ValidationFailed):
        accounts.reset_password(backend, "maxmuster", "WRONGCODE9", PW2, CALLER)
    result = accounts.reset_password(backend, "maxmuster", code, PW2, CALLER)
    assert result.message == accounts.MSG_RESET_DONE
    with pytest.raises(sessions.SessionExpired):
        sessions.current(backend, token)
    with pytest.raises(AuthFailed):
        accounts.login(backend, "maxmuster", PW, CALLER)
    accounts.login(backend, "maxmuster", PW2, CALLER)
    assert mails(backend, "password_changed")


def test_change_password(backend):
    register_and_verify(backend)
    first = accounts.login(backend, "maxmuster", PW, CALLER).token
    second = accounts.login(backend, "maxmuster", PW, CALLER).token
    with pytest.raises(AuthFailed) as info:
        accounts.change_password(backend, first, "wrong wrong wrong", PW2)
    assert "current_password" in info.value.fields
    with pytest.raises(ValidationFailed) as info:
        accounts.change_password(backend, first, PW, "short")
    assert "new_password" in info.value.fields
    accounts.change_password(backend, first, PW, PW2)
    sessions.current(backend, first)
    with pytest.raises(sessions.SessionExpired):
        sessions.current(backend, second)
    accounts.login(backend, "maxmuster", PW2, CALLER)


def test_email_change(backend):
    register_and_verify(backend)
    token = accounts.login(backend, "maxmuster", PW, CALLER).token
    with pytest.raises(AuthFailed):
        accounts.request_email_change(backend, token, "wrong wrong wrong", "neu@example.com")
    accounts.request_email_change(backend, token, PW, "Neu@Example.com")
    confirm = mails(backend, "email_change_confirm")[-1]
    assert confirm.to == "Neu@example.com"
    with pytest.raises(ValidationFailed):
        accounts.confirm_email_change(backend, token, "WRONGCODE9")
    accounts.confirm_email_change(backend, token, confirm.params["code"])
    notice = mails(backend, "email_changed_notice")[-1]
    assert notice.to == "Max.Muster@example.com"
    assert accounts.login(backend, "neu@example.com", PW, CALLER).token


def test_email_change_to_taken_address_same_answer(backend):
    register_and_verify(backend)
    register_and_verify(backend, username="eva", email="eva@example.com", first_name="Eva")
    token = accounts.login(backend, "maxmuster", PW, CALLER).token
    result = accounts.request_email_change(backend, token, PW, "eva@example.com")
    assert result.message == accounts.MSG_EMAIL_CHANGE_SENT
    assert not mails(backend, "email_change_confirm")


def test_purge_unverified_after_7_days(backend, clock):
    accounts.register(backend, form(), CALLER)
    register_and_verify(backend, username="eva", email="eva@example.com", first_name="Eva")
    clock.advance(days=6)
    assert accounts.purge_unverified(backend) == 0
    clock.advance(days=1, seconds=1)
    assert accounts.purge_unverified(backend) == 1
    assert count(backend, Account) == 1
    assert count(backend, EmailToken, EmailToken.purpose == "verify_email") == 1


# --------------------------------------------------------------------------- agents


def test_create_agent_rules(backend):
    agent = agents.create_agent(backend, "Desk.Anna", "supervisor", PW)
    assert (agent.name, agent.role) == ("Desk.Anna", "supervisor")
    with pytest.raises(Conflict):
        agents.create_agent(backend, "desk.anna", "agent", PW)
    with pytest.raises(ValidationFailed) as info:
        agents.create_agent(backend, "bob", "agent", "short")
    assert "15" in str(info.value)
    with pytest.raises(ValidationFailed):
        agents.create_agent(backend, "bob", "boss", PW)
    with pytest.raises(ValidationFailed):
        agents.create_agent(backend, "bobby", "agent", "bobby ist der beste Agent")


def test_simultaneous_wrong_codes_count_exactly(backend):
    accounts.register(backend, form(), CALLER)
    barrier = threading.Barrier(4)

    def wrong():
        barrier.wait()
        with pytest.raises(ValidationFailed):
            accounts.verify_email(backend, "maxmuster", "WRONGCODE9", CALLER)

    threads = [threading.Thread(target=wrong) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with backend.transaction() as db:
        assert db.scalars(select(EmailToken)).one().failed_attempts == 4
