"""The lines of an import file: one pydantic model per ``kind`` and the rules for text.

``parse(raw)`` turns one line (UTF-8 bytes) into a validated record or a reason in English
that names the field; ``text_problem`` and ``duplicate_key`` are the checks pydantic does not
make: control characters in any text field (a line break in a company name would end up in
a mail header), invisible characters in identifiers (a customer number of zero-width spaces),
and a key given twice in one JSON object (JSON parsers silently keep the last one).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from schwifty import IBAN
from schwifty import registry as iban_registry

KINDS = ("customer", "product", "activation_code", "contract", "licence_key", "membership")

# --------------------------------------------------------------------------- line models


def _s(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=max_length, min_length=min_length)
    ]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


IsoDate = Annotated[dt.date, Strict()]
_CFG = ConfigDict(extra="forbid", frozen=False)
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_BIC_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_POSTAL = {"DE": re.compile(r"^\d{5}$"), "AT": re.compile(r"^\d{4}$"), "CH": re.compile(r"^\d{4}$")}
_STATUS = {
    "active": "active", "aktiv": "active",
    "expired": "expired", "abgelaufen": "expired", "inactive": "expired", "inaktiv": "expired",
    "cancelled": "cancelled", "canceled": "cancelled", "gekündigt": "cancelled",
    "gekuendigt": "cancelled", "storniert": "cancelled",
    "suspended": "suspended", "ruhend": "suspended", "pending": "pending",
}


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    from babel import Locale

    return frozenset(c for c in Locale("en").territories if len(c) == 2 and c.isalpha())


# A plain ASCII dot-atom local part: for these, email_validator's verdict depends only on the
# domain, which is checked once per domain (a million customers share a few thousand domains).
_SIMPLE_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


@lru_cache(maxsize=65536)
def _email_domain(domain: str) -> str:
    return validate_email("x@" + domain, check_deliverability=False).domain


def _check_email(value: str | None) -> str | None:
    if not value:
        return None
    try:
        local, sep, domain = value.rpartition("@")
        if sep and len(local) <= 64 and len(value) <= 254 and _SIMPLE_LOCAL.match(local):
            return f"{local}@{_email_domain(domain)}"
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address ({exc})") from None


_SPACES = re.compile(r"\s+")
_IBAN_CHARS = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]+")
_IBAN_DIGITS = str.maketrans({c: str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})


@lru_cache(maxsize=512)
def _iban_spec(country: str) -> Any:
    try:
        return iban_registry.get_iban_spec(country)
    except Exception:  # noqa: BLE001 - unknown country: let IBAN() explain
        return None


def _iban_ok(compact: str) -> bool:
    """schwifty's own structural checks (characters, length, BBAN format from its registry,
    ISO 7064 mod 97-10 check digits) without building an IBAN object; ``False`` sends the
    value through ``schwifty.IBAN`` for the verdict and its message."""
    if not _IBAN_CHARS.fullmatch(compact):
        return False
    country = compact[:2]
    spec = _iban_spec(country)
    bban = compact[4:]
    if spec is None or spec.iban_length != len(compact) or not spec.regex.match(bban):
        return False
    if bban.isdigit():  # most BBANs (DE, AT, …): no letters to spell out
        number = int(bban + _IBAN_COUNTRY_DIGITS[country])
    else:
        number = int((bban + country + "00").translate(_IBAN_DIGITS))
    return f"{98 - number % 97:02d}" == compact[2:4]


_IBAN_COUNTRY_DIGITS = {
    a + b: (a + b + "00").translate(_IBAN_DIGITS)
    for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
}


class CustomerLine(BaseModel):
    model_config = _CFG
    kind: Literal["customer"]
    number: _s(32, 1)
    type: _s(32) = "private"
    company: _s(200) | None = None
    salutation: _s(40) | None = None
    first_name: _s(120) | None = None
    last_name: _s(120) | None = None
    birth_date: IsoDate | None = None
    street: _s(200) | None = None
    postal_code: _s(16) | None = None
    city: _s(120) | None = None
    country: _s(2) | None = "DE"
    phone: _s(40) | None = None
    mobile: _s(40) | None = None
    email: _s(254) | None = None
    iban: _s(50) | None = None
    bic: _s(15) | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    # One Python validator for the whole line (a million lines: every call counts).
    @model_validator(mode="after")
    def _whole(self) -> CustomerLine:
        ctype = self.type.lower() or "private"
        if not _TYPE_RE.match(ctype):
            raise ValueError("type: a customer type is one word such as private, teacher or "
                             "company")
        fields = self.__dict__  # plain dict writes: BaseModel.__setattr__ is slow
        fields["type"] = ctype
        country = (self.country or "DE").upper()
        if country not in _countries():
            raise ValueError(f"country: {country!r} is not a 2-letter ISO country code")
        fields["country"] = country
        if not (self.last_name or self.company):
            raise ValueError("a customer needs a last_name or a company")
        if self.postal_code and country in _POSTAL and not _POSTAL[country].match(
            self.postal_code
        ):
            raise ValueError(f"postal_code: {self.postal_code!r} is not valid for {country}")
        if self.email:
            try:
                fields["email"] = _check_email(self.email)
            except ValueError as exc:
                raise ValueError(f"email: {exc}") from None
        else:
            fields["email"] = None
        if self.iban:
            fields["iban"] = _check_iban(self.iban)
        else:
            fields["iban"] = None
        if self.bic:
            bic = self.bic.replace(" ", "").upper()
            if not _BIC_RE.match(bic):
                raise ValueError("bic: invalid BIC")
            fields["bic"] = bic
        else:
            fields["bic"] = None
        return self


def _check_iban(value: str) -> str:
    compact = value if value.isalnum() and value.isupper() else _SPACES.sub("", value).upper()
    if _iban_ok(compact):
        return compact
    try:
        return str(IBAN(value))
    except ValueError as exc:
        raise ValueError(f"iban: invalid IBAN ({exc})") from None


class ActivationCodeLine(BaseModel):
    model_config = _CFG
    kind: Literal["activation_code"]
    customer_number: _s(32, 1)
    code: _s(64, 4)
    valid_until: IsoDate | None = None


class ContractLine(BaseModel):
    model_config = _CFG
    kind: Literal["contract"]
    number: _s(40, 1)
    customer_number: _s(32, 1)
    valid_from: IsoDate | None = None
    valid_to: IsoDate | None = None
    status: _s(20) = "active"
    product: _s(200) | None = None
    abo_number: _s(40) | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        status = _STATUS.get(value.lower() or "active")
        if status is None:
            raise ValueError(
                f"unknown status {value!r} (active, expired, cancelled, suspended, pending)"
            )
        return status

    @model_validator(mode="after")
    def _dates(self) -> ContractLine:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to lies before valid_from")
        return self


class ProductLine(BaseModel):
    model_config = _CFG
    kind: Literal["product"]
    sku: _s(64, 1)
    name: _s(200, 1)
    type: Annotated[Literal["licence", "download", "journal"], BeforeValidator(_lower)]
    access_url: _s(500) | None = None


class LicenceKeyLine(BaseModel):
    model_config = _CFG
    kind: Literal["licence_key"]
    key: _s(64, 4)
    sku: _s(64, 1)
    valid_until: IsoDate | None = None


class MembershipLine(BaseModel):
    model_config = _CFG
    kind: Literal["membership"]
    customer_number: _s(32, 1)
    email: _s(254, 1)
    role: Annotated[
        Literal["super_admin", "admin", "member"], BeforeValidator(_lower)
    ] = "member"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _check_email(value) or value


Line = Annotated[
    CustomerLine | ActivationCodeLine | ContractLine | ProductLine | LicenceKeyLine
    | MembershipLine,
    Field(discriminator="kind"),
]
LINE = TypeAdapter(Line)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        typ = err["type"]
        loc = [str(p) for p in err["loc"]]
        if typ == "json_invalid":
            return f"malformed JSON ({err['msg'].removeprefix('Invalid JSON: ')})"
        if typ == "union_tag_not_found":
            return "missing field 'kind'"
        if typ == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", "?")
            return f"unknown kind {tag!r} (expected one of {', '.join(KINDS)})"
        if typ == "model_attributes_type" or typ == "model_type":
            return "a line must be one JSON object"
        if loc and loc[0] in KINDS:
            loc = loc[1:]
        msg = err["msg"].removeprefix("Value error, ")
        if typ == "missing":
            parts.append(f"missing field {'.'.join(loc)!r}")
        elif typ == "extra_forbidden":
            parts.append(f"unknown field {'.'.join(loc)!r}")
        elif typ.startswith("date"):
            parts.append(f"{'.'.join(loc)}: not an ISO date (YYYY-MM-DD)")
        elif loc:
            parts.append(f"{'.'.join(loc)}: {msg}")
        else:
            parts.append(msg)
    return "; ".join(parts)




# --------------------------------------------------------------------------- text rules

# Control characters (C0, DEL, C1), line and paragraph separators, bidirectional controls
# (they reorder what an agent reads) and surrogates: refused in every text field.
_CONTROL = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
# Invisible characters: every format character (Unicode category Cf; a test compares the
# list with unicodedata) and the Hangul fillers. Refused in identifiers, and a text of only
# these is no text.
_INVISIBLE = (
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5"
    "\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
CONTROL_RE = re.compile(f"[{_CONTROL}]")
INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
_ONLY_INVISIBLE = re.compile(f"[{_INVISIBLE}\\s]+")
_UNSAFE = re.compile(f"[{_CONTROL}{_INVISIBLE}]")
# A line whose bytes contain none of these cannot break a text rule nor hide a duplicate key
# from the quick count in ``parse``: a JSON escape, DEL, tab and CR, or a lead byte of a
# character of _CONTROL or _INVISIBLE in UTF-8 (raw C0 controls are not valid JSON). German
# text (ä ö ü ß: 0xC3) has none; ``bytes.translate`` finds them many times faster than a
# regular expression. The few lines it flags get the exact checks.
_SUSPECT_BYTES = b"\\\t\r\x7f\xc2\xcd\xd8\xdb\xdc\xe0\xe1\xe2\xe3\xef\xf0\xf1\xf2\xf3\xf4"
# Identifiers and addresses: no invisible character at all.
IDENTIFIERS = frozenset({"number", "customer_number", "abo_number", "code", "key", "sku",
                         "email"})
_KEY_END = re.compile(rb'"[ \t\r\n]*:')


def safe(text: str) -> str:
    """``text`` with control and invisible characters spelled as escapes, for a terminal."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def text_problem(fields: dict[str, Any]) -> str | None:
    """The first text rule a validated line breaks, worded with its field; else ``None``."""
    for name, value in fields.items():
        if not isinstance(value, str) or not value:
            continue
        if m := CONTROL_RE.search(value):
            return (f"{name}: contains a control character (U+{ord(m[0]):04X}); line breaks, "
                    "tabs and other control characters are not allowed")
        if name in IDENTIFIERS:
            if m := INVISIBLE_RE.search(value):
                return f"{name}: contains an invisible character (U+{ord(m[0]):04X})"
        elif name != "password" and _ONLY_INVISIBLE.fullmatch(value):
            return f"{name}: contains only invisible characters"
    return None


def duplicate_key(raw: bytes | str) -> str | None:
    """The first key that appears twice in one JSON object of ``raw``, else ``None``."""
    found: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                found.append(key)
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(raw, object_pairs_hook=pairs_hook)
    except ValueError:
        return None
    return found[0] if found else None


_validate = LINE.validate_json


def _raw_text_problem(raw: bytes) -> str | None:
    """For a line that failed validation: a text rule its values break comes first (the
    field validators may have stumbled over the very character)."""
    if len(raw.translate(None, _SUSPECT_BYTES)) == len(raw):
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return text_problem({k: v.strip() if isinstance(v, str) and k != "password" else v
                         for k, v in obj.items() if k != "kind"})


def parse(raw: bytes) -> tuple[Any, str | None]:
    """``(record, None)`` for a valid line (bytes without its line end), else
    ``(None, reason)``; the reason never contains a control character."""
    try:
        rec = _validate(raw)
    except ValidationError as exc:
        return None, safe(_raw_text_problem(raw) or _reason(exc))
    if len(raw.translate(None, _SUSPECT_BYTES)) != len(raw):
        if problem := text_problem(rec.__dict__):
            return None, safe(problem)
        keys = len(_KEY_END.findall(raw))
    elif b'" ' in raw:
        keys = len(_KEY_END.findall(raw))
    else:  # no escaped quote, no string end before white space: every '":' ends a key
        keys = raw.count(b'":')
    if keys != len(rec.model_fields_set):
        key = duplicate_key(raw)
        if key is not None:
            return None, safe(f"the field {key!r} appears twice in this line")
    return rec, None
