"""Normalisation of identifiers and names, shared by every flow."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe"})


#: Unicode categories no single-line text may hold: control characters (C0, DEL, C1), lone
#: surrogates (not encodable: psycopg, argon2 and SMTP fail on them) and line/paragraph breaks.
_NOT_ONE_LINE = frozenset({"Cc", "Cs", "Zl", "Zp"})
_MULTILINE_OK = frozenset("\n\r\t")


def one_line(value: object) -> str:
    """``value`` as one safe line (mail headers, file names): every control character, line
    break and lone surrogate becomes a space, runs of spaces one, trimmed."""
    text = "".join(" " if unicodedata.category(ch) in _NOT_ONE_LINE else ch
                   for ch in ("" if value is None else str(value)))
    return _SPACES.sub(" ", text).strip()


def unsafe_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character of ``value`` a text field must refuse, else None: NUL and lone
    surrogates always; other control characters and line breaks unless ``multiline`` (which
    keeps newline, carriage return and tab)."""
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs" or ch == "\x00":
            return ch
        if category in _NOT_ONE_LINE and not (multiline and ch in _MULTILINE_OK):
            return ch
    return None


def nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()


def email_key(email: str) -> str:
    """The unique key of an e-mail address: NFKC, trimmed, lower case."""
    return nfkc(email).lower()


def username_key(username: str) -> str:
    """The unique key of a username: NFKC, trimmed, case-folded."""
    return nfkc(username).casefold()


def customer_number(value: str) -> str:
    """Customer numbers as typed: NFKC, no spaces, upper case."""
    return _SPACES.sub("", nfkc(value)).upper()


def fold_name(value: str | None) -> str:
    """A name folded for tolerant comparison and search.

    Lower case, umlauts spelled out (ü → ue, ß → ss), other accents dropped, hyphens and
    runs of spaces as one space: "Müller-Lüdenscheidt " == "mueller luedenscheidt".
    """
    text = nfkc(value or "").casefold().translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[-‐‑–—_.,']+", " ", text)
    return _SPACES.sub(" ", text).strip()
