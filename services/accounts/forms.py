"""Field checks shared by every form with a name, an e-mail or an address (registration here,
the profile, contracts and organisations elsewhere).

``clean_text`` (NFKC, one space, no control characters, a length), ``normalize_email`` (syntax
only, no DNS), ``countries`` (ISO 3166-1 alpha-2 from Babel's CLDR data), the postal code per
country (``postal_code_problem``, ``postal_key`` for comparisons), the mixin ``AddressChecks``,
and ``field_errors``, which turns a pydantic ``ValidationError`` into form field -> msgid.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from services.accounts.common import MSG_REQUIRED
from services.errors import N_
from services.normalize import MSG_CONTROL, nfkc

if TYPE_CHECKING:
    pass


MSG_INVALID = N_("Please check this entry.")
MSG_TOO_LONG = N_("This entry is too long.")
MSG_EMAIL = N_("Please enter a valid e-mail address.")
MSG_COUNTRY = N_("Please choose a country.")
MSG_POSTAL_DE = N_("The postal code has 5 digits.")
MSG_POSTAL_4 = N_("The postal code has 4 digits.")
MSG_POSTAL = N_("Please enter a valid postal code.")
MSG_TERMS = N_("Please accept the terms and conditions.")

FIELD_NAMES = {"customer_type": "type", "accept_terms": "terms"}
_POSTAL_OTHER = re.compile(r"^[A-Z0-9][A-Z0-9 \-]{1,8}[A-Z0-9]$")


def field_problem(msgid: str) -> PydanticCustomError:
    return PydanticCustomError("kiosk", msgid)


@cache
def countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (from Babel's CLDR data)."""
    from babel import Locale

    return frozenset(
        k for k in Locale("en").territories if len(k) == 2 and k.isalpha()
        and k not in {"ZZ", "EU", "EZ", "UN", "QO"}
    )


def clean_text(value: Any, *, required: bool, max_len: int) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise field_problem(MSG_INVALID)
    text = nfkc(value)
    text = " ".join(text.split())
    if not text:
        if required:
            raise field_problem(MSG_REQUIRED)
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise field_problem(MSG_CONTROL)
    if len(text) > max_len:
        raise field_problem(MSG_TOO_LONG)
    return text


def normalize_email(value: Any) -> str:
    """A syntactically valid address (no DNS lookup), in its normalised form."""
    if not isinstance(value, str) or not value.strip():
        raise field_problem(MSG_REQUIRED)
    try:
        result = validate_email(nfkc(value), check_deliverability=False)
    except EmailNotValidError:
        raise field_problem(MSG_EMAIL) from None
    if len(result.normalized) > 254:
        raise field_problem(MSG_TOO_LONG)
    return result.normalized


def postal_code_problem(country: str | None, code: str) -> str | None:
    """The msgid for a postal code that does not fit the country, else None."""
    country = (country or "DE").upper()
    if country == "DE":
        return None if re.fullmatch(r"\d{5}", code) else MSG_POSTAL_DE
    if country in ("AT", "CH"):
        return None if re.fullmatch(r"\d{4}", code) else MSG_POSTAL_4
    return None if _POSTAL_OTHER.fullmatch(code) else MSG_POSTAL


def postal_key(value: str | None) -> str:
    return re.sub(r"[\s\-]", "", nfkc(value or "")).upper()


class AddressChecks(BaseModel):
    """Salutation, names, street, country (ISO code, default DE) and postal code per country,
    shared by every form with a name and an address. Declare ``country`` before
    ``postal_code`` so the code is checked against it."""

    @field_validator("salutation", mode="before", check_fields=False)
    @classmethod
    def _salutation(cls, value: Any) -> str | None:
        return clean_text(value, required=False, max_len=40)

    @field_validator("first_name", "last_name", "city", mode="before", check_fields=False)
    @classmethod
    def _name(cls, value: Any) -> str | None:
        return clean_text(value, required=True, max_len=120)

    @field_validator("street", mode="before", check_fields=False)
    @classmethod
    def _street(cls, value: Any) -> str | None:
        return clean_text(value, required=True, max_len=200)

    @field_validator("country", mode="before", check_fields=False)
    @classmethod
    def _country(cls, value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "DE"
        if not isinstance(value, str) or value.strip().upper() not in countries():
            raise field_problem(MSG_COUNTRY)
        return value.strip().upper()

    @field_validator("postal_code", mode="before", check_fields=False)
    @classmethod
    def _postal(cls, value: Any, info: ValidationInfo) -> str:
        text = clean_text(value, required=True, max_len=16)
        assert text is not None
        text = text.upper()
        problem = postal_code_problem(info.data.get("country", "DE"), text)
        if problem:
            raise field_problem(problem)
        return text


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Form field name -> msgid for every field of a pydantic ValidationError."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        field = FIELD_NAMES.get(name, name)
        if field in errors:
            continue
        if error["type"] == "kiosk":
            errors[field] = error["msg"]
        elif error["type"] == "missing":
            errors[field] = MSG_TERMS if field == "terms" else MSG_REQUIRED
        else:
            errors[field] = MSG_INVALID
    return errors
