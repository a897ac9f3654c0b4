"""Hostile import lines (issue 20, items 2, 8 and 12): control characters in any text field,
NUL, invisible customer numbers, duplicate JSON keys — each a line-numbered error, never a
traceback, never stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from db.models import Customer
from services.importer import import_lines
from services.importer.lines import (
    _SUSPECT_BYTES,
    CONTROL_RE,
    INVISIBLE_RE,
    duplicate_key,
    parse,
    safe,
)

KIOSK = Path(sys.executable).with_name("kiosk")

GOOD = {
    "customer": {"kind": "customer", "number": "100200", "type": "company",
                 "company": "Müller GmbH", "salutation": "Frau", "first_name": "Anna",
                 "last_name": "Müller", "street": "Artilleriestr. 39", "postal_code": "34117",
                 "city": "Kassel", "phone": "+49 561 1234", "mobile": "+49 170 1234",
                 "email": "anna@example.de", "bic": "COBADEFFXXX",
                 "password": "Kundenpasswort-Graz-77"},
    "product": {"kind": "product", "sku": "WM-MATHE-7", "name": "Mathe 7", "type": "licence",
                "access_url": "https://example.org/m7"},
    "activation_code": {"kind": "activation_code", "customer_number": "100200",
                        "code": "QX7K-M3PA-9T"},
    "contract": {"kind": "contract", "number": "431177", "customer_number": "100200",
                 "status": "active", "product": "Jobticket", "abo_number": "A-1"},
    "licence_key": {"kind": "licence_key", "key": "ACDE-FGHJ-KMNP-QRTU", "sku": "WM-MATHE-7"},
    "membership": {"kind": "membership", "customer_number": "100200",
                   "email": "chefin@example.de", "role": "admin"},
}
TEXT_FIELDS = [(kind, name) for kind, rec in GOOD.items() for name, value in rec.items()
               if name not in ("kind", "type", "role", "status") and isinstance(value, str)]


def lines_with(kind: str, name: str, value: str) -> list[str]:
    records = [dict(rec) for rec in GOOD.values()]
    for rec in records:
        if rec["kind"] == kind:
            rec[name] = value
    return [json.dumps(rec, ensure_ascii=False) for rec in records]


def customers(backend) -> int:  # type: ignore[no-untyped-def]
    with backend.transaction() as s:
        return s.scalar(select(func.count()).select_from(Customer))


def test_the_good_records_import(backend) -> None:
    report = import_lines(backend, [json.dumps(r, ensure_ascii=False) for r in GOOD.values()])
    assert report.ok, report.errors


@pytest.mark.parametrize(("kind", "name"), TEXT_FIELDS)
@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x1b", "\x85", "\u2028", "\u202e"])
def test_control_characters_are_refused_in_every_text_field(kind: str, name: str,
                                                            char: str) -> None:
    value = GOOD[kind][name]
    hostile = value[:1] + char + value[1:]  # inside: at either end white space is trimmed
    line = lines_with(kind, name, hostile)[list(GOOD).index(kind)]
    rec, reason = parse(line.encode())
    assert rec is None and reason is not None
    assert reason.startswith(f"{name}: contains a control character (U+{ord(char):04X})")
    assert not CONTROL_RE.search(reason)


def test_a_company_name_with_a_line_break_never_gets_in(backend) -> None:
    """Issue 20 item 2: the company lands in mail subjects; a line break stops all mail."""
    lines = lines_with("customer", "company", "Müller\nGmbH\r\nBcc: x@example.org")
    report = import_lines(backend, lines)
    first, *others = report.errors
    assert (first.line, first.reason.split(";")[0]) == (
        1, "company: contains a control character (U+000A)")
    assert {e.reason for e in others} == {"unknown customer number 100200"}  # its dependents
    assert customers(backend) == 0
    # at either end it is only white space: trimmed like any other
    assert import_lines(backend, lines_with("customer", "company", "\tMüller GmbH\n")).ok
    with backend.transaction() as s:
        assert s.scalar(select(Customer.company)) == "Müller GmbH"


@pytest.mark.parametrize("field", ["number", "customer_number"])
@pytest.mark.parametrize("value", ["\u200b", "\u200b\u200c\u2060", "\ufeff", "10\u200b0200"])
def test_invisible_customer_numbers_are_refused(backend, field: str, value: str) -> None:
    kind = "customer" if field == "number" else "activation_code"
    report = import_lines(backend, lines_with(kind, field, value))
    line = list(GOOD).index(kind) + 1
    assert any(e.line == line and e.reason.startswith(f"{field}: contains an invisible "
                                                      "character (U+")
               for e in report.errors), report.errors
    assert customers(backend) == 0


@pytest.mark.parametrize("name", ["last_name", "company", "city"])
def test_names_of_only_invisible_characters_are_no_names(name: str) -> None:
    rec, reason = parse(lines_with("customer", name, "\u200b\u2063")[0].encode())
    assert rec is None and reason == f"{name}: contains only invisible characters"
    # a joiner inside a real name is fine (some scripts need it)
    rec, reason = parse(lines_with("customer", name, "Gr\u200dün")[0].encode())
    assert reason is None and rec is not None


@pytest.mark.parametrize("line", [
    '{"kind": "customer", "number": "1", "last_name": "A", "last_name": "B"}',
    '{"kind":"customer","number":"1","last_name":"A","number":"2"}',
    '{"kind": "customer", "number" : "1", "last_name": "A", "number":"2"}',
    '{"kind": "customer", "number": "1", "last_name": "A", "n\\u0075mber": "2"}',
    '{"kind": "customer",\t"number": "1", "last_name": "A\\"", "number": "2"}',
    '{"kind": "membership", "customer_number": "1", "email": "a@b.de", "role": "admin", '
    '"role": "super_admin"}',
])
def test_duplicate_keys_are_refused(line: str) -> None:
    rec, reason = parse(line.encode())
    assert rec is None and reason is not None and "appears twice in this line" in reason
    assert duplicate_key(line) is not None


def test_duplicate_key_error_is_line_numbered(backend) -> None:
    lines = [json.dumps(GOOD["customer"]),
             '{"kind": "customer", "number": "2", "last_name": "A", "last_name": "B"}']
    report = import_lines(backend, lines)
    assert [(e.line, e.reason) for e in report.errors] == [
        (2, "the field 'last_name' appears twice in this line")]


@pytest.mark.parametrize("line", [
    '{"kind": "customer", "number": "1", "last_name": "A:", "city": "x\\": y"}',
    '{"kind": "customer", "number": "1", "last_name": "A" , "city" : "B"}',
    '{"kind": "customer", "number": "1", "last_name": "\\"quoted\\" name"}',
])
def test_no_false_duplicate_keys(line: str) -> None:
    rec, reason = parse(line.encode())
    assert reason is None and rec is not None


def _cli(backend, path: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = dict(os.environ, KIOSK_HOME=str(backend.settings.home),
               KIOSK_DATABASE_URL=backend.database_url)
    return subprocess.run([str(KIOSK), "import", "--quiet", str(path)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_nul_gives_a_line_numbered_error_and_no_traceback(backend, tmp_path) -> None:
    """Issue 20 item 8: on PostgreSQL a NUL used to end in a traceback with the row."""
    secret = "Geheim-Passwort-0815"
    path = tmp_path / "nul.jsonl"
    path.write_bytes(b"\n".join([
        json.dumps(GOOD["customer"]).encode(),
        b'{"kind": "customer", "number": "2", "last_name": "A\\u0000B", "password": "'
        + secret.encode() + b'"}',
        b'{"kind": "customer", "number": "3", "last_name": "A\x00B"}',
        b'{"kind": "customer", "number": "4\\u0000", "last_name": "A"}',
        b'{"kind": "customer", "nu\\u0000mber": "5", "last_name": "A"}',
    ]) + b"\n")
    done = _cli(backend, path)
    assert done.returncode == 1
    err = done.stderr.splitlines()
    assert [line.split(":")[0] for line in err[:-1]] == ["line 2", "line 3", "line 4", "line 5"]
    assert err[1].startswith("line 3: malformed JSON")
    assert "last_name: contains a control character (U+0000)" in err[0]
    assert "number: contains a control character (U+0000)" in err[2]
    assert "unknown field 'nu\\x00mber'" in err[3] or "unknown field 'nu\\u0000mber'" in err[3]
    assert "Traceback" not in done.stderr and secret not in done.stderr + done.stdout
    assert "\x00" not in done.stderr
    assert customers(backend) == 0


def test_error_messages_never_carry_terminal_escapes(backend, tmp_path) -> None:
    path = tmp_path / "esc.jsonl"
    path.write_text('{"kind": "customer", "number": "1", "last_name": "A", '
                    '"\\u001b[2J\\u001b]0;pwned\\u0007": 1}\n'
                    '{"kind": "\\u001b[31mvoucher"}\n', encoding="utf-8")
    done = _cli(backend, path)
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert done.stderr.startswith("line 1: unknown field") and "line 2: unknown kind" in done.stderr


def test_safe_spells_out_every_unsafe_character() -> None:
    assert safe("a\nb\u202ec\u200bd") == "a\\u000ab\\u202ec\\u200bd"


def test_the_byte_scan_flags_every_refused_character() -> None:
    """The quick scan in ``parse`` must see every character the exact rules refuse, and the
    invisible class must hold every format character Unicode knows (category Cf)."""
    missed = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        if unicodedata.category(char) == "Cf" and not INVISIBLE_RE.match(char):
            missed.append(f"Cf U+{cp:04X}")
        if CONTROL_RE.match(char) or INVISIBLE_RE.match(char):
            encoded = char.encode()
            if len(encoded.translate(None, _SUSPECT_BYTES)) == len(encoded):
                missed.append(f"scan U+{cp:04X}")
    assert missed == []
    assert all(CONTROL_RE.match(chr(c)) for c in [*range(0x20), *range(0x7F, 0xA0)])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(company=st.text(max_size=40), number=st.text(min_size=1, max_size=12))
def test_any_text_is_imported_clean_or_refused_with_its_line(backend, company,
                                                             number) -> None:
    line = json.dumps({"kind": "customer", "number": number, "type": "company",
                       "company": company or "X"})
    report = import_lines(backend, [line])
    if report.error_count:
        assert [e.line for e in report.errors] == [1]
        assert not CONTROL_RE.search(report.errors[0].reason)
        return
    with backend.transaction() as s:
        stored = s.execute(select(Customer.number, Customer.company)).all()
        s.execute(Customer.__table__.delete())
    for value in stored[0]:
        assert not CONTROL_RE.search(value)
    assert not INVISIBLE_RE.search(stored[0][0]) and stored[0][0]
