"""Password policy (NIST SP 800-63B-4 / ASVS 5 V6) and normalisation properties."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services import passwords
from services.i18n import translate
from services.normalize import email_key, username_key
from services.passwords import check_password, strength, strength_label

ROOT = Path(__file__).resolve().parent.parent


def test_length_rules_in_code_points():
    assert check_password("a" * 14 + "b") == []
    assert passwords.MSG_TOO_SHORT in check_password("kurz")
    assert check_password("ä" * 7 + "ö" * 8) == []  # 15 code points, more bytes
    assert check_password("x" * 64 + "yz") == []
    assert check_password("ab" * 128) == [passwords.MSG_REPETITIVE]  # 256 allowed length
    assert check_password("a" * 257) == [passwords.MSG_TOO_LONG]
    # NFC: "e" + combining acute counts as one code point
    assert passwords.length("e\u0301" * 3) == 3


def test_no_composition_rules():
    assert check_password("nur kleinbuchstaben und leerzeichen") == []


def test_common_and_repetitive_refused_case_insensitively():
    assert passwords.MSG_COMMON in check_password("PasswordPassword")
    assert passwords.MSG_COMMON in check_password("QWERTYUIOPASDFGHJKL")
    assert passwords.MSG_COMMON in check_password("123456789012345")
    assert passwords.MSG_REPETITIVE in check_password("abcabcabcabcabc")
    assert len(passwords.common_passwords()) > 3000


def test_personal_data_refused_with_reason():
    assert check_password("Anna Schmidt 1234567", first_name="Anna", last_name="Schmidt") == [
        passwords.MSG_CONTAINS_NAME]
    assert check_password("ich bin der xXkioskXx", username="xxKIOSKxx") == [
        passwords.MSG_CONTAINS_USERNAME]
    assert check_password("mein anna.s@web.de geheimnis", email="Anna.S@web.de") == [
        passwords.MSG_CONTAINS_EMAIL]
    assert check_password("Müller-Lüdenscheidt", last_name="Müller-Lüdenscheidt") != []
    assert check_password("alles klar bei uns hier", first_name="Al") == []  # too short to look


def test_strength_levels():
    assert strength("") == 0
    assert strength("passwordpassword") == 0
    assert strength("kurz") == 0
    assert strength("blauer Kaffeebecher") >= 1
    assert strength("Blauer Kaffeebecher am Fenster, 7 Uhr!") == 4
    assert strength_label("") == "Very weak"
    assert [strength(p) for p in ("a" * 20, "ab1" * 7)] == [0, 0]


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_policy_never_raises_and_refuses_over_256(text):
    problems = check_password(text, username=text[:5], email=text[:10] + "@x.de",
                              first_name=text[:3], last_name=text[3:8])
    assert isinstance(problems, list)
    assert 0 <= strength(text) <= 4
    if passwords.length(text) > 256:
        assert problems == [passwords.MSG_TOO_LONG]


@given(st.text(min_size=257, max_size=600))
@settings(max_examples=50, deadline=None)
def test_everything_over_256_is_refused(text):
    if passwords.length(text) > 256:
        assert check_password(text) == [passwords.MSG_TOO_LONG]


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_identifier_keys_idempotent_and_case_insensitive(text):
    assert email_key(email_key(text)) == email_key(text)
    assert username_key(username_key(text)) == username_key(text)
    assert username_key(text.upper()) == username_key(text.lower()) or not text.isascii()
    assert email_key(text.upper()) == email_key(text.lower()) or not text.isascii()


@given(st.from_regex(r"[A-Za-z0-9._-]{3,30}", fullmatch=True))
def test_username_key_ignores_case_and_width(name):
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    assert username_key(wide) == username_key(name.swapcase()) == username_key(name)


def _msgids() -> list[str]:
    ids = []
    services = ROOT / "services"
    paths = [services / f"{name}.py" for name in ("passwords", "sessions", "agents", "throttle")]
    paths += sorted((services / "accounts").glob("*.py"))  # the accounts package, every module
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_":
                ids.append(node.args[0].value)
    return ids


def test_every_msgid_has_a_german_translation_with_the_same_placeholders():
    ids = _msgids()
    assert len(ids) > 40
    for msgid in ids:
        german = translate("de", msgid)
        assert german != msgid, msgid
        assert set(re.findall(r"\{\w+\}", german)) == set(re.findall(r"\{\w+\}", msgid))
    assert translate("de", "This field must not be empty.") == "Das Feld darf nicht leer bleiben"
