"""Password policy after NIST SP 800-63B-4 and OWASP ASVS 5.0 chapter V6.

* at least 15 characters, counted as Unicode code points after NFC normalisation;
* anything longer than 256 code points is refused *before* hashing (64 and more are allowed);
* no composition rules (no "one digit, one capital letter");
* refused: passwords on the offline list of common passwords (``assets/passwords/common.txt``,
  compared case-insensitively), passwords that only repeat a short pattern, and passwords that
  contain the user's first or last name, username or the local part of the e-mail address.

``check_password`` never raises: it returns the English msgids of every rule broken, so the
UI can show all reasons at once. ``strength`` gives 0..4 for a live indicator.
"""

from __future__ import annotations

import math
import unicodedata
from functools import cache
from pathlib import Path

from services.errors import N_
from services.normalize import nfkc

MIN_LENGTH = 15
MAX_LENGTH = 256
# Parts of a name shorter than this are not looked for in the password ("Li", "Al").
MIN_NAME_PART = 3

COMMON_FILE = Path(__file__).resolve().parent.parent / "assets" / "passwords" / "common.txt"

MSG_EMPTY = N_("This field must not be empty.")
MSG_TOO_SHORT = N_("The password must have at least 15 characters.")
MSG_TOO_LONG = N_("The password must not have more than 256 characters.")
MSG_COMMON = N_("This password is too common. Please choose another one.")
MSG_REPETITIVE = N_("The password only repeats a short pattern. Please choose another one.")
MSG_CONTAINS_NAME = N_("The password must not contain your first or last name.")
MSG_CONTAINS_USERNAME = N_("The password must not contain your username.")
MSG_CONTAINS_EMAIL = N_("The password must not contain your e-mail address.")

STRENGTH_LABELS = (
    N_("Very weak"),
    N_("Weak"),
    N_("Fair"),
    N_("Strong"),
    N_("Very strong"),
)


def _fold(text: str) -> str:
    return nfkc(text).casefold()


@cache
def common_passwords() -> frozenset[str]:
    """The offline list, folded (NFKC + casefold); loaded once."""
    try:
        lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:  # pragma: no cover - the file ships with the app
        return frozenset()
    return frozenset(_fold(line) for line in lines if line.strip() and not line.startswith("#"))


def length(password: str) -> int:
    """Length in Unicode code points after NFC."""
    return len(unicodedata.normalize("NFC", password))


def _is_repetitive(folded: str) -> bool:
    """True when the whole password is one short unit (<= 4 code points) repeated."""
    n = len(folded)
    for unit in range(1, 5):
        if n % unit == 0 and n // unit >= 2 and folded[:unit] * (n // unit) == folded:
            return True
    return False


def _name_parts(value: str | None) -> list[str]:
    if not value:
        return []
    folded = _fold(value)
    parts = {folded} | {p for p in folded.replace("-", " ").split() if p}
    return [p for p in parts if len(p) >= MIN_NAME_PART]


def check_password(
    password: str | None,
    *,
    username: str | None = None,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> list[str]:
    """Every rule the password breaks, as msgids (empty list: acceptable). Never raises."""
    if not isinstance(password, str) or password == "":
        return [MSG_EMPTY]
    size = length(password)
    if size > MAX_LENGTH:
        return [MSG_TOO_LONG]  # refused before any further work, and before hashing
    problems: list[str] = []
    if size < MIN_LENGTH:
        problems.append(MSG_TOO_SHORT)
    folded = _fold(password)
    if folded in common_passwords() or folded.strip() in common_passwords():
        problems.append(MSG_COMMON)
    elif _is_repetitive(folded):
        problems.append(MSG_REPETITIVE)
    if any(part in folded for part in _name_parts(first_name) + _name_parts(last_name)):
        problems.append(MSG_CONTAINS_NAME)
    if username and any(part in folded for part in _name_parts(username)):
        problems.append(MSG_CONTAINS_USERNAME)
    if email:
        local = _fold(email).rpartition("@")[0] or _fold(email)
        if len(local) >= MIN_NAME_PART and local in folded:
            problems.append(MSG_CONTAINS_EMAIL)
    return problems


def strength(password: str | None) -> int:
    """A rough strength for the live indicator: 0 (very weak) .. 4 (very strong).

    Passwords the policy refuses for length, commonness or repetition are 0; otherwise the
    estimate grows with the length and the variety of characters (an entropy guess).
    """
    if not password:
        return 0
    size = length(password)
    if size > MAX_LENGTH:
        return 0
    folded = _fold(password)
    if size < MIN_LENGTH:
        return 0 if size < 8 else 1
    if folded in common_passwords() or _is_repetitive(folded):
        return 0
    pool = 0
    if any(c.islower() for c in password):
        pool += 26
    if any(c.isupper() for c in password):
        pool += 26
    if any(c.isdigit() for c in password):
        pool += 10
    if any(c.isspace() for c in password):
        pool += 1
    if any(not c.isalnum() and not c.isspace() for c in password):
        pool += 33
    if any(ord(c) > 127 for c in password):
        pool += 50
    distinct = len(set(folded))
    bits = min(size, distinct * 2) * math.log2(max(pool, 2))
    if bits < 60:
        return 1
    if bits < 80:
        return 2
    if bits < 110:
        return 3
    return 4


def strength_label(password: str | None) -> str:
    """The msgid of the strength level of ``password``."""
    return STRENGTH_LABELS[strength(password)]


__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "STRENGTH_LABELS",
    "check_password",
    "common_passwords",
    "strength",
    "strength_label",
]
