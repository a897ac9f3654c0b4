"""'Meine Kundendaten' services beyond name and address: several phone numbers, further
e-mail addresses, umbrella organisation, delivery and payment method (IBAN/BIC), on SQLite
and PostgreSQL; the audit never holds a value, above all no IBAN."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pilot import login_token
from sqlalchemy import select

from db.models import Account, AccountContact, AuditEvent
from services import profile
from services.caller import Caller
from services.demo import load_demo
from services.errors import NotFound, ValidationFailed

CALLER = Caller(terminal_id="kiosk-1")
IBAN = "DE89 3704 0044 0532 0130 00"
DEBIT = {"umbrella_organisation": "Landesverband Musik", "delivery_method": "post",
         "payment_method": "direct_debit", "iban": IBAN, "bic": ""}


@pytest.fixture
def demo(backend):
    load_demo(backend)
    return backend


def _audit(backend) -> list[AuditEvent]:
    with backend.transaction() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == "profile_changed")))


def test_phones_add_validate_per_country_and_remove(demo) -> None:
    token = login_token(demo, "eneu", reauth=False)
    first = profile.add_phone(demo, token, "0431 1234567", "DE", caller=CALLER).profile
    assert [p.value for p in first.phones][-1] == "+49 431 1234567"
    saved = profile.add_phone(demo, token, "0316 123456", "AT", "mobile", CALLER)
    assert "+43 316 123456" in [p.value for p in saved.profile.phones]
    with pytest.raises(ValidationFailed) as dup:  # the same number in another spelling
        profile.add_phone(demo, token, "+49 (431) 123-4567", "DE", caller=CALLER)
    assert dup.value.fields == {"phone": profile.MSG_DUPLICATE}
    for bad in ("12", "+43 abc", "", "0431\x1b1234567"):
        with pytest.raises(ValidationFailed) as info:
            profile.add_phone(demo, token, bad, "DE", caller=CALLER)
        assert "phone" in info.value.fields
    with pytest.raises(ValidationFailed):
        profile.add_phone(demo, token, "0431 7654321", "DE", "pager", CALLER)
    # removing the main number promotes the next one
    phones = profile.get_profile(demo, token).phones
    after = profile.remove_contact(demo, token, "phone", phones[0].id, CALLER).profile
    assert after.phone == phones[1].value and len(after.phones) == len(phones) - 1
    with pytest.raises(NotFound):
        profile.remove_contact(demo, token, "phone", 999_999, CALLER)
    events = _audit(demo)
    assert events and all("431" not in str(e.details) and "316" not in str(e.details)
                          for e in events)


def test_phone_list_is_limited(demo) -> None:
    token = login_token(demo, "eneu", reauth=False)
    for i in range(profile.MAX_CONTACTS):
        profile.add_phone(demo, token, f"0431 12345{i:02d}", "DE", caller=CALLER)
    assert len(profile.get_profile(demo, token).phones) == profile.MAX_CONTACTS
    with pytest.raises(ValidationFailed) as info:
        profile.add_phone(demo, token, "0431 9999999", "DE", caller=CALLER)
    assert info.value.fields["phone"] == profile.MSG_TOO_MANY


def test_emails_login_address_first_further_ones_checked(demo) -> None:
    token = login_token(demo, "eneu", reauth=False)
    emails = profile.get_profile(demo, token).emails
    assert [(e.id, e.label, e.value) for e in emails] == [(0, "login", "erika.neu@example.de")]
    saved = profile.add_email(demo, token, "Buero.Neu@Example.de", CALLER).profile
    assert saved.emails[1].value.lower() == "buero.neu@example.de"
    for bad, msgid in (("ERIKA.NEU@example.de", profile.MSG_DUPLICATE),
                       ("buero.neu@EXAMPLE.de", profile.MSG_DUPLICATE),
                       ("no-at-sign", None), ("", None)):
        with pytest.raises(ValidationFailed) as info:
            profile.add_email(demo, token, bad, CALLER)
        assert "email" in info.value.fields
        if msgid:
            assert info.value.fields["email"] == msgid
    with pytest.raises(NotFound):  # the login address is changed in the settings only
        profile.remove_contact(demo, token, "email", 0, CALLER)
    left = profile.remove_contact(demo, token, "email", saved.emails[1].id, CALLER).profile
    assert len(left.emails) == 1


def test_contacts_of_another_account_cannot_be_removed(demo) -> None:
    mine = login_token(demo, "eneu", reauth=False)
    other = login_token(demo, "amueller", reauth=False)
    added = profile.add_email(demo, mine, "zweit@example.de", CALLER).profile.emails[1]
    with pytest.raises(NotFound):
        profile.remove_contact(demo, other, "email", added.id, CALLER)
    with demo.transaction() as db:
        assert db.get(AccountContact, added.id) is not None


def test_billing_direct_debit_masks_and_audits_without_iban(demo) -> None:
    token = login_token(demo, "eneu", reauth=False)
    saved = profile.update_billing(demo, token, DEBIT, CALLER)
    result = saved.profile
    assert result.iban_masked == "DE89 **** **** **** **30 00"
    assert result.bic == "COBADEFFXXX"  # taken from the IBAN's bank
    assert set(saved.changed) == {"umbrella_organisation", "delivery_method", "payment_method",
                                  "iban", "bic"}
    assert "3704" not in result.model_dump_json() and IBAN not in result.model_dump_json()
    # the form shows the IBAN masked and sends an empty field: the stored IBAN is kept
    again = profile.update_billing(demo, token, {**DEBIT, "iban": ""}, CALLER)
    assert again.changed == []
    with demo.transaction() as db:
        account = db.scalars(select(Account).where(Account.username == "eneu")).one()
        assert account.iban == "DE89370400440532013000"
    for event in _audit(demo):
        assert "370400" not in str(event.details) and "DE89" not in str(event.details)
    # back to invoice: the bank details are dropped
    plain = profile.update_billing(demo, token, {**DEBIT, "payment_method": "invoice"}, CALLER)
    assert plain.profile.iban_masked is None and plain.profile.bic is None


@pytest.mark.parametrize(("changes", "field", "msgid"), [
    ({"iban": "DE89 3704 0044 0532 0130 01"}, "iban", profile.MSG_IBAN),  # check digits
    ({"iban": "XX00 1234"}, "iban", profile.MSG_IBAN),
    ({"bic": "NOTABIC!"}, "bic", profile.MSG_BIC),
    ({"delivery_method": "pigeon"}, "delivery_method", profile.MSG_CHOOSE),
    ({"payment_method": "cash"}, "payment_method", profile.MSG_CHOOSE),
    ({"umbrella_organisation": "x" * 201}, "umbrella_organisation", None),
])
def test_billing_rejects(demo, changes, field, msgid) -> None:
    token = login_token(demo, "eneu", reauth=False)
    with pytest.raises(ValidationFailed) as info:
        profile.update_billing(demo, token, {**DEBIT, **changes}, CALLER)
    assert field in info.value.fields
    if msgid:
        assert info.value.fields[field] == msgid


def test_direct_debit_needs_an_iban(demo) -> None:
    token = login_token(demo, "eneu", reauth=False)
    with pytest.raises(ValidationFailed) as info:
        profile.update_billing(demo, token, {**DEBIT, "iban": ""}, CALLER)
    assert info.value.fields == {"iban": profile.MSG_IBAN_NEEDED}


@pytest.mark.parametrize(("iban", "shown"), [
    ("DE89370400440532013000", "DE89 **** **** **** **30 00"),
    ("AT611904300234573201", "AT61 **** **** **** 3201"),
    (None, None),
])
def test_mask_iban(iban, shown) -> None:
    assert profile.mask_iban(iban) == shown


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_free_text_never_crashes_the_billing_check(value: str) -> None:
    """Any umbrella name, IBAN or BIC text is either accepted (cleaned) or a field error."""
    for field in ("umbrella_organisation", "iban", "bic"):
        try:
            form = profile.validate_billing({**DEBIT, field: value})
        except ValidationFailed as exc:
            assert set(exc.fields) <= {field, "iban"}
        else:
            text = getattr(form, field)
            assert text is None or not any(unicodedata.category(ch) in ("Cc", "Cf")
                                           for ch in text)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=50), st.sampled_from(["DE", "AT", "CH", "XX", ""]))
def test_free_text_phone_is_a_number_or_a_field_error(value: str, country: str) -> None:
    """Any text: a valid number in international format, or ValidationFailed on ``phone``."""
    try:
        shown, key = profile._phone_value(value, country)
    except ValidationFailed as exc:
        assert set(exc.fields) == {"phone"}
    else:
        assert shown.startswith("+") and key.startswith("+") and key[1:].isdigit()


def test_free_text_email_never_crashes(sqlite_backend) -> None:
    """Any text for a further address: added, or a field error on ``email`` — never more."""
    from sqlalchemy import delete

    load_demo(sqlite_backend)
    token = login_token(sqlite_backend, "eneu", reauth=False)

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.text(max_size=80))
    def check(value: str) -> None:
        try:
            saved = profile.add_email(sqlite_backend, token, value, CALLER)
        except ValidationFailed as exc:
            assert set(exc.fields) == {"email"}
        else:
            assert len(saved.profile.emails) == 2
        with sqlite_backend.transaction() as db:
            db.execute(delete(AccountContact))

    check()


def test_a_duplicate_written_meanwhile_is_the_duplicate_message(demo) -> None:
    """The unique constraint behind the list check (another terminal a moment earlier)."""
    token = login_token(demo, "eneu", reauth=False)
    first = profile.add_email(demo, token, "zweit@example.de", CALLER).profile.emails[1]
    with pytest.raises(ValidationFailed) as info, demo.transaction() as db:
        account_id = db.scalar(select(Account.id).where(Account.username == "eneu"))
        db.add(AccountContact(account_id=account_id, kind="email", value=first.value,
                              value_key="zweit@example.de", created_at=demo.now()))
        profile._flush_unique(db, "email")
    assert info.value.fields == {"email": profile.MSG_DUPLICATE}
