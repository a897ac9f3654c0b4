"""Normalisation of identifiers and names, shared by every flow."""

from __future__ import annotations

import functools
import inspect
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from services.errors import N_, ValidationFailed

F = TypeVar("F", bound=Callable[..., Any])

_SPACES = re.compile(r"\s+")
# The form of a customer number at the login: a digit first, then digits, "-", "/" or ".".
_CUSTOMER_NUMBER_FORM = re.compile(r"^[0-9][0-9\-/.]{2,31}$")
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


def without_controls(value: str) -> str:
    """``value`` without control characters, lone surrogates and line breaks (a search box
    searches for what is left instead of refusing)."""
    return "".join(ch for ch in value if unicodedata.category(ch) not in _NOT_ONE_LINE)


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


# --------------------------------------------------------------------------- the text boundary
MSG_CONTROL = N_("This entry contains characters that are not allowed.")
#: Parameter and form-field names of multi-line free text (notes, comments, reasons).
MULTILINE = frozenset({"note", "body", "comment", "reason", "message", "text", "description"})
_NOT_TEXT = frozenset({"backend", "caller", "db", "session"})


def _texts(name: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, BaseModel):
        yield from _texts(name, value.model_dump())
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str):
                yield str(key), item


def refuse_unsafe_text(texts: Iterable[tuple[str, str]], *,
                       fields: Mapping[str, str] | None = None) -> None:
    """``ValidationFailed`` naming every field whose text holds NUL, a lone surrogate or (in a
    single-line field) another control character or line break."""
    names = fields or {}
    bad = {names.get(name, name): MSG_CONTROL for name, text in texts
           if unsafe_character(text, multiline=name in MULTILINE) is not None}
    if bad:
        raise ValidationFailed(MSG_CONTROL, fields=bad)


def text_input(fields: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Decorator of a service entry point that takes free text: every ``str`` argument, and
    every ``str`` value of a mapping or pydantic-model argument, is checked before the function
    runs (``refuse_unsafe_text``). ``fields`` renames a parameter to the form field the screens
    know (``{"other": "other_number"}``). One check at the boundary, so neither PostgreSQL
    (NUL), argon2 and HMAC (lone surrogates) nor a mail header ever sees such text."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError:
                return fn(*args, **kwargs)  # let Python say what is wrong with the call
            refuse_unsafe_text(
                (pair for name, value in bound.arguments.items() if name not in _NOT_TEXT
                 for pair in _texts(name, value)), fields=fields)
            return fn(*args, **kwargs)

        checked.checks_text_input = True  # type: ignore[attr-defined]  # found by the fuzz test
        return checked  # type: ignore[return-value]

    return decorate
