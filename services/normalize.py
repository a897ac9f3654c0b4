"""Normalisation of identifiers and names, shared by every flow."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# The form of a customer number at the login: a digit first, then digits, "-", "/" or ".".
_CUSTOMER_NUMBER_FORM = re.compile(r"^[0-9][0-9\-/.]{2,31}$")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe"})


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


def looks_like_customer_number(identifier: str) -> bool:
    """Whether an identifier has the form of a customer number (decides the login route, and
    such usernames are refused at registration); usernames and e-mails do not."""
    return bool(_CUSTOMER_NUMBER_FORM.match(customer_number(identifier or "")))


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
