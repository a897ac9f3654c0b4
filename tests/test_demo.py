"""The demo data set: loads twice without duplicates and covers every guide's cases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from db.models import (
    Account,
    ActivationCode,
    Contract,
    Customer,
    CustomerLink,
    LicenceKey,
    Membership,
    Product,
)
from services.crypto import CODE_ALPHABET, normalize_code, normalize_key
from services.demo import (
    ACCOUNTS,
    ACTIVATION_CODES,
    CUSTOMERS,
    LICENCE_KEYS,
    SHOW_TEXT,
    demo_lines,
    load_demo,
)
from services.importer import validate_lines
from services.passwords import check_password
from tui.cli import main

MODELS = (Customer, Product, ActivationCode, Contract, LicenceKey, Membership, Account,
          CustomerLink)


def counts(backend) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with backend.transaction() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) for m in MODELS}


def test_demo_loads_twice_idempotently(backend) -> None:
    first = load_demo(backend)
    assert first.accounts_created == len(ACCOUNTS)
    assert "Demo data loaded" in first.summary()
    before = counts(backend)
    second = load_demo(backend)
    assert second.accounts_created == 0 and second.accounts_updated == len(ACCOUNTS)
    assert counts(backend) == before
    assert before["Customer"] == len(CUSTOMERS) and before["Account"] == len(ACCOUNTS) + 1  # applicant


def test_demo_has_a_request_waiting_for_the_super_admin(backend) -> None:
    from pilot import login_token

    from services import organisations

    report = load_demo(backend)
    assert report.applicants == 1 and load_demo(backend).applicants == 0
    token = login_token(backend, "kkoehler", reauth=False)
    with backend.transaction() as s:
        organisation = s.scalar(select(Customer.id).where(Customer.number == "300001"))
    page = organisations.pending_requests(backend, token, organisation)
    assert [(r.name, r.email) for r in page.items] == [("Jonas Wagner", "jonas.wagner@example.de")]


def test_demo_contains_the_cases_of_the_guides(backend) -> None:
    load_demo(backend)
    digest = backend.digester.digest
    with backend.transaction() as s:
        customers = {c.number: c for c in s.scalars(select(Customer))}
        max_ = customers["100001"]
        assert (max_.last_name, max_.birth_date, max_.postal_code, max_.city) == (
            "Musterjobber", dt.date(2000, 10, 5), "34117", "Kassel")
        contract = s.scalar(select(Contract).where(Contract.number == "431177"))
        assert contract.customer_id == max_.id and contract.valid_to is None
        assert {c.status for c in s.scalars(select(Contract))} >= {"active", "expired",
                                                                   "cancelled"}
        assert {c.type for c in customers.values()} >= {"private", "teacher", "company",
                                                        "organiser"}
        assert {c.country for c in customers.values()} == {"DE", "AT"}
        assert any("ö" in (c.last_name or "") or "ß" in (c.last_name or "")
                   for c in customers.values())
        # activation codes: digests only, one expired
        codes = s.scalars(select(ActivationCode)).all()
        assert {c.code_digest for c in codes} == {
            digest("activation", normalize_code(code)) for _, code, _, _ in ACTIVATION_CODES}
        assert any(c.valid_until < dt.date(2026, 1, 1) for c in codes)
        # products of each kind, one withdrawn; keys for each, one expired, one redeemed
        products = s.scalars(select(Product)).all()
        assert {p.kind for p in products} == {"licence", "download", "journal"}
        assert [p.sku for p in products if p.withdrawn] == ["WM-ATLAS-2019"]
        keys = s.scalars(select(LicenceKey)).all()
        assert len(keys) == len(LICENCE_KEYS)
        assert any(k.valid_until < dt.date(2026, 1, 1) for k in keys)
        assert sum(k.redeemed_by_id is not None for k in keys) == 1
        # organisation with an active super admin membership bound to its account
        admin = s.scalar(select(Account).where(Account.email_key == "dr.koehler@example.de"))
        member = s.scalar(select(Membership).where(Membership.account_id == admin.id))
        assert (member.customer_id, member.account_id, member.role, member.state) == (
            customers["300001"].id, admin.id, "super_admin", "active")
        # a merge would move a contract from 200002 to 200001
        assert s.scalar(select(Contract).where(Contract.number == "431190")).customer_id == \
            customers["200002"].id
        assert customers["300001"].type == "company"
        # merge pairs: same name / different street, phone, IBAN; and a different last name
        a, b = customers["200001"], customers["200002"]
        assert (a.first_name, a.last_name) == (b.first_name, b.last_name)
        assert a.street != b.street and a.phone != b.phone and a.iban != b.iban
        assert customers["200003"].last_name != customers["200004"].last_name
        for number in ("200001", "200002", "200003", "200004"):
            password = next(c["password"] for c in CUSTOMERS if c["number"] == number)
            assert backend.hasher.verify(customers[number].password_hash, password)
        # a number already taken by a demo account
        link = s.scalar(select(CustomerLink).where(
            CustomerLink.customer_id == customers["100005"].id))
        taken_by = s.get(Account, link.account_id)
        assert taken_by.email_key == "lukas.fuchs@example.de"
        # demo accounts: active, password hashes that verify, never plain
        for username, email, password, first, last, *_ in ACCOUNTS:
            account = s.scalar(select(Account).where(Account.email_key == email))
            assert account.status == "active" and account.username == username
            assert account.password_hash != password
            assert backend.hasher.verify(account.password_hash, password)


def test_demo_data_is_valid_and_passwords_meet_the_policy(backend) -> None:
    assert validate_lines(backend, demo_lines()).errors == []
    for username, email, password, first, last, *_ in ACCOUNTS:
        assert check_password(password, username=username, email=email, first_name=first,
                              last_name=last) == []
    for key, *_ in LICENCE_KEYS:
        assert [len(p) for p in key.split("-")] == [4, 4, 4, 4]
        assert set(normalize_key(key)) <= set(CODE_ALPHABET)


def test_show_text_lists_what_a_newcomer_needs() -> None:
    for needle in ("Sonnenblume-Kassel-2026", "431177", "05.10.2000", "34117", "unbefristet",
                   "300001", "80331", "Freischaltcode", "Meine Lizenzen", "Fachzeitschriften",
                   "abgelaufen", "Gartenzwerg-Elbe-Kiesel-42", "Bäcker"):
        assert needle in SHOW_TEXT, needle
    for _, code, _, _ in ACTIVATION_CODES:
        assert code in SHOW_TEXT
    for key, *_ in LICENCE_KEYS:
        assert key in SHOW_TEXT


def test_cli_demo(backend, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KIOSK_HOME", str(tmp_path / "clihome"))
    assert main(["--db", backend.database_url, "demo", "--show"]) == 0
    assert "Sonnenblume-Kassel-2026" in capsys.readouterr().out
    assert main(["--db", backend.database_url, "demo"]) == 0
    assert "Demo data loaded" in capsys.readouterr().out
    assert counts(backend)["Customer"] == len(CUSTOMERS)


def test_demo_reload_respects_links_made_while_trying(backend) -> None:
    load_demo(backend)
    with backend.transaction() as s:
        taken = s.scalar(select(Customer.id).where(Customer.number == "100005"))
        link = s.scalar(select(CustomerLink).where(CustomerLink.customer_id == taken))
        erika = s.scalar(select(Account.id).where(Account.email_key == "erika.neu@example.de"))
        link.account_id = erika
    load_demo(backend)
    with backend.transaction() as s:
        link = s.scalar(select(CustomerLink).where(CustomerLink.customer_id == taken))
        assert link.account_id == erika


def test_readme_shows_the_demo_data() -> None:
    from pathlib import Path

    from services.demo import SHOW_TEXT

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert SHOW_TEXT.rstrip("\n") in readme


def _decide_applicant(backend, approve: bool) -> None:  # type: ignore[no-untyped-def]
    from pilot import login_token

    from services import organisations
    from services.caller import Caller

    token = login_token(backend, "kkoehler", reauth=False)
    with backend.transaction() as s:
        organisation = s.scalar(select(Customer.id).where(Customer.number == "300001"))
    request = organisations.pending_requests(backend, token, organisation).items[0]
    organisations.decide(backend, token, organisation, request.id, approve, None,
                         Caller())


def test_demo_reloads_after_the_waiting_request_was_rejected(backend) -> None:
    """Issue 19.1: rejecting Jonas Wagner removes his stub account but keeps the membership;
    the second ``make run`` inserted the membership again and crashed."""
    load_demo(backend)
    _decide_applicant(backend, approve=False)
    before = counts(backend)
    assert load_demo(backend).applicants == 0
    assert counts(backend) == before
    with backend.transaction() as s:
        states = s.scalars(select(Membership.state).where(
            Membership.email_key == "jonas.wagner@example.de")).all()
    assert states == ["rejected"]


def test_demo_reloads_after_the_waiting_request_was_approved(backend) -> None:
    load_demo(backend)
    _decide_applicant(backend, approve=True)
    before = counts(backend)
    assert load_demo(backend).applicants == 0
    assert counts(backend) == before


def test_cli_demo_twice_after_a_rejection_exits_cleanly(backend, tmp_path, monkeypatch,
                                                        capsys) -> None:
    monkeypatch.setenv("KIOSK_HOME", str(tmp_path / "clihome"))
    assert main(["--db", backend.database_url, "demo", "--quiet"]) == 0
    _decide_applicant(backend, approve=False)
    assert main(["--db", backend.database_url, "demo", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
