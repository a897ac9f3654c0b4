"""Back-office import: validation with line numbers, all-or-nothing, upserts, no plain secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import String, Text, func, select

from db.models import (
    Account,
    ActivationCode,
    AuditEvent,
    Contract,
    Customer,
    LicenceKey,
    Membership,
    Product,
    metadata,
)
from services import normalize
from services.crypto import normalize_code, normalize_key
from services.importer import import_file, import_lines
from tui.cli import main

CODE = "QX7K-M3PA-9T"
KEY = "ACDE-FGHJ-KMNP-QRTU"
PASSWORD = "Kundenpasswort-Graz-77"


def good_lines() -> list[str]:
    records = [
        {"kind": "customer", "number": "100200", "type": "private", "salutation": "Herr",
         "first_name": "Jürgen", "last_name": "Größ", "birth_date": "1971-03-09",
         "street": "Annenstraße 12", "postal_code": "8020", "city": "Graz", "country": "AT",
         "email": "juergen.gross@example.at", "iban": "AT61 1904 3002 3457 3201",
         "password": PASSWORD},
        {"kind": "customer", "number": "K 300400", "type": "company", "company": "Müller GmbH",
         "street": "Artilleriestr. 39", "postal_code": "34117", "city": "Kassel"},
        {"kind": "product", "sku": "WM-MATHE-7", "name": "Mathe 7 digital", "type": "Licence",
         "access_url": "https://example.org/mathe7"},
        {"kind": "activation_code", "customer_number": "100200", "code": CODE,
         "valid_until": "2027-12-31"},
        {"kind": "contract", "number": "431177", "customer_number": "100200",
         "valid_from": "2023-05-01", "valid_to": None, "status": "AKTIV"},
        {"kind": "licence_key", "key": KEY, "sku": "WM-MATHE-7", "valid_until": "2027-06-30"},
        {"kind": "membership", "customer_number": "k300400", "email": "Chefin@Example.de",
         "role": "super_admin"},
    ]
    return [json.dumps(r, ensure_ascii=False) for r in records]


def count(backend, model) -> int:  # type: ignore[no-untyped-def]
    with backend.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_good_file_imports_with_counts(backend, tmp_path: Path) -> None:
    path = tmp_path / "good.jsonl"
    path.write_text("\n".join(good_lines()[:3]) + "\n\n   \n" + "\n".join(good_lines()[3:]) + "\n",
                    encoding="utf-8")
    report = import_file(backend, path)
    assert report.errors == []
    assert report.counts == {"customer": 2, "product": 1, "activation_code": 1, "contract": 1,
                             "licence_key": 1, "membership": 1}
    assert report.customers == 2 and report.licence_keys == 1
    assert report.summary().startswith("2 customers, 1 product, 1 activation code")
    with backend.transaction() as s:
        gross = s.scalar(select(Customer).where(Customer.number == "100200"))
        assert gross.search_name == "groess" and gross.country == "AT"
        assert gross.iban == "AT611904300234573201"
        assert gross.email == "juergen.gross@example.at"
        assert backend.hasher.verify(gross.password_hash, PASSWORD)
        org = s.scalar(select(Customer).where(Customer.number == "K300400"))
        assert org.search_name == "mueller gmbh" and org.country == "DE"
        contract = s.scalar(select(Contract))
        assert contract.status == "active" and contract.valid_to is None
        assert contract.customer_id == gross.id
        assert s.scalar(select(Product.kind)) == "licence"
        code = s.scalar(select(ActivationCode))
        assert code.code_digest == backend.digester.digest("activation", normalize_code(CODE))
        key = s.scalar(select(LicenceKey))
        assert key.key_digest == backend.digester.digest("licence", normalize_key(KEY))
        member = s.scalar(select(Membership))
        assert (member.customer_id, member.email_key, member.role) == (
            org.id, "chefin@example.de", "super_admin")
        event = s.scalar(select(AuditEvent).where(AuditEvent.event == "import"))
        assert event.details["counts"]["customer"] == 2


BAD = [
    (2, '{"kind": "customer", "number": "1", ', "malformed JSON"),
    (3, '{"kind": "customer", "number": "2"}', "last_name"),
    (4, '{"kind": "customer", "number": "3", "last_name": "X", "birth_date": "05.10.2000"}',
     "birth_date"),
    (5, '{"kind": "voucher", "number": "4"}', "unknown kind"),
    (6, '{"kind": "contract", "number": "9", "customer_number": "404"}',
     "unknown customer number 404"),
    (7, '{"kind": "customer", "number": "5", "last_name": "X", "iban": "DE00 1234 5678"}',
     "IBAN"),
    (8, '{"kind": "product", "sku": "S", "name": "N"}', "missing field 'type'"),
    (9, '{"kind": "licence_key", "key": "AAAA-BBBB", "sku": "NOPE"}', "unknown product sku"),
    (10, '{"kind": "customer", "number": "6", "last_name": "X", "colour": "red"}',
     "unknown field 'colour'"),
    (11, '{"kind": "membership", "customer_number": "7", "email": "a@b.de", "role": "boss"}',
     "role"),
    (12, '{"kind": "customer", "number": "8", "last_name": "X", "country": "AT", '
         '"postal_code": "34117"}', "postal_code"),
    (13, '{"kind": "customer", "number": "9", "last_name": "X", "email": "kein-at-zeichen"}',
     "e-mail"),
]


def test_bad_lines_reported_and_nothing_written(backend, tmp_path: Path) -> None:
    lines = [good_lines()[0]] + [line for _, line, _ in BAD]
    report = import_lines(backend, lines)
    got = {e.line: e.reason for e in report.errors}
    assert sorted(got) == [n for n, _, _ in BAD]
    for n, _, expected in BAD:
        assert expected in got[n], (n, got[n])
    for model in (Customer, Contract, Product, LicenceKey, AuditEvent):
        assert count(backend, model) == 0
    assert "nothing was imported" in report.summary()


def test_duplicate_in_file_is_an_error(backend) -> None:
    line = good_lines()[1]
    report = import_lines(backend, [line, line])
    assert [(e.line, "first on line 1" in e.reason) for e in report.errors] == [(2, True)]


def test_reimport_updates_without_duplicates(backend, tmp_path: Path) -> None:
    assert import_lines(backend, good_lines()).ok
    with backend.transaction() as s:
        account = Account(email="a@example.de", email_key="a@example.de", status="active")
        s.add(account)
        s.flush()
        key = s.scalar(select(LicenceKey))
        key.redeemed_by_id = account.id
        key.redeemed_at = backend.now()
        old_hash = s.scalar(select(Customer.password_hash).where(Customer.number == "100200"))
    changed = [line.replace('"Graz"', '"Wien"').replace('"8020"', '"1010"') for line in good_lines()]
    changed[0] = changed[0].replace(f', "password": "{PASSWORD}"', "")
    report = import_lines(backend, changed)
    assert report.errors == []
    assert count(backend, Customer) == 2
    for model in (ActivationCode, Contract, Product, LicenceKey, Membership):
        assert count(backend, model) == 1
    with backend.transaction() as s:
        gross = s.scalar(select(Customer).where(Customer.number == "100200"))
        assert (gross.city, gross.postal_code) == ("Wien", "1010")
        assert gross.password_hash == old_hash  # no password in the file: the old one stays
        key = s.scalar(select(LicenceKey))
        assert key.redeemed_by_id is not None and key.redeemed_at is not None
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 2


def test_references_to_the_database(backend) -> None:
    assert import_lines(backend, good_lines()[:3]).ok
    report = import_lines(backend, [
        '{"kind": "contract", "number": "5000", "customer_number": " k300400 ",'
        ' "status": "cancelled", "valid_from": "2020-01-01", "valid_to": "2021-01-01"}',
        '{"kind": "licence_key", "key": "CDEF-GHJK-MNPQ-RTUV", "sku": "WM-MATHE-7"}',
    ])
    assert report.errors == []
    assert report.counts["contract"] == 1 and report.counts["licence_key"] == 1


def test_no_plain_secrets_in_any_text_column(backend) -> None:
    assert import_lines(backend, good_lines()).ok
    plain = [CODE, normalize_code(CODE), KEY, normalize_key(KEY), PASSWORD]
    with backend.transaction() as s:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text):
                    continue
                for value in s.execute(select(column).where(column.is_not(None))).scalars():
                    for secret in plain:
                        assert secret not in str(value), (table.name, column.name)


def test_cli_import_exit_codes(backend, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KIOSK_HOME", str(tmp_path / "clihome"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good_lines()[0] + "\n{oops\n" + BAD[3][1] + "\n", encoding="utf-8")
    assert main(["--db", backend.database_url, "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 2: malformed JSON" in err and "line 3: " in err
    assert count(backend, Customer) == 0
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(good_lines()) + "\n", encoding="utf-8")
    assert main(["--db", backend.database_url, "import", str(good)]) == 0
    assert "2 customers" in capsys.readouterr().out
    assert count(backend, Customer) == 2


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "{}"])
def test_non_objects_are_rejected(backend, raw: str) -> None:
    report = import_lines(backend, [raw])
    assert [e.line for e in report.errors] == [1]


def test_names_are_normalised(backend) -> None:
    assert import_lines(backend, good_lines()[:2]).ok
    with backend.transaction() as s:
        numbers = set(s.scalars(select(Customer.number)))
    assert numbers == {normalize.customer_number("100200"), "K300400"}


def test_file_with_bom_crlf_and_a_non_utf8_line(backend, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [line.encode() for line in good_lines()[:2]]
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    assert import_file(backend, path).counts["customer"] == 2
    path.write_bytes(lines[0] + b"\n" + '{"kind": "customer", "number": "7", "last_name": "Müller"}'
                     .encode("latin-1") + b"\n")
    report = import_file(backend, path)
    assert [e.line for e in report.errors] == [2]
    assert "malformed JSON" in report.errors[0].reason
