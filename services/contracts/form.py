"""The typed data of the contract-link dialog and how they are compared with the record.

The dialog asks for the contract number (contract or abo number), the birth date
(TT.MM.JJJJ), the last name and the postal code of the customer on record; ``validate_link``
turns it into a ``LinkForm`` or raises one ``ValidationFailed`` with every field error.

Last names match case-insensitively, with surrounding spaces ignored and the German spelling
variants treated as equal (``normalize.fold_name``); postal codes are compared per country (an
optional "D-"/"A-"/"CH-" prefix must fit the customer's country); the birth date must be a real
date. No database here: ``services.contracts.linking`` looks the record up and compares,
``services.contracts.customer`` checks a birth date typed into the customer data the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator

from db.models import Customer
from services.accounts import MSG_FORM, MSG_POSTAL, clean_text, field_errors, field_problem
from services.errors import N_, ValidationFailed
from services.normalize import customer_number as norm_number
from services.normalize import fold_name, nfkc

MSG_NUMBER = N_("Please enter the number as printed on your contract or chip card.")
MSG_DATE = N_("Please enter a real date in the form DD.MM.YYYY.")

_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9\-/.]{0,39}$")
_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_PREFIXED = re.compile(r"^(DE|D|AT|A|CH)?(\d{4,5})$")
_PREFIX_COUNTRY = {"D": "DE", "DE": "DE", "A": "AT", "AT": "AT", "CH": "CH"}
_POSTAL_ANY = re.compile(r"^[A-Z0-9]{2,10}$")


def parse_date(value: str) -> dt.date | None:
    """A real date typed as TT.MM.JJJJ (1-digit day and month allowed), else None."""
    match = _DATE.fullmatch(nfkc(value).replace(" ", ""))
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def postal_matches(typed: str, customer: Customer) -> bool:
    """The typed postal code (optionally with a country prefix) is the customer's."""
    key = re.sub(r"[\s\-]", "", nfkc(typed)).upper()
    stored = re.sub(r"[\s\-]", "", nfkc(customer.postal_code or "")).upper()
    match = _PREFIXED.fullmatch(key)
    if match:
        prefix, key = match.groups()
        if prefix and _PREFIX_COUNTRY[prefix] != (customer.country or "DE").upper():
            return False
    return bool(stored) and key == stored


def name_matches(typed: str, customer: Customer) -> bool:
    """Case, surrounding spaces, ü/ue, ß/ss and hyphens or spaces in double names ignored."""
    wanted = fold_name(typed).replace(" ", "")
    names = (customer.last_name, customer.company)
    return bool(wanted) and any(fold_name(n).replace(" ", "") == wanted for n in names if n)


def _birth_date(value: Any) -> dt.date:
    """A typed birth date: required, a real date, not in the future, not before 1900."""
    if isinstance(value, dt.date):
        return value
    raw = clean_text(value, required=True, max_len=12)
    date = parse_date(raw or "")
    if date is None or date.year < 1900 or date > dt.date.today():
        raise field_problem(MSG_DATE)
    return date


class LinkForm(BaseModel):
    """The link dialog: number, birth date (TT.MM.JJJJ), last name, postal code."""

    number: str
    birth_date: dt.date
    last_name: str
    postal_code: str

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> str:
        raw = clean_text(value, required=True, max_len=40)
        number = norm_number(raw or "")
        if not _NUMBER.fullmatch(number):
            raise field_problem(MSG_NUMBER)
        return number

    @field_validator("birth_date", mode="before")
    @classmethod
    def _birth_date(cls, value: Any) -> dt.date:
        return _birth_date(value)

    @field_validator("last_name", mode="before")
    @classmethod
    def _last_name(cls, value: Any) -> str:
        return clean_text(value, required=True, max_len=120) or ""

    @field_validator("postal_code", mode="before")
    @classmethod
    def _postal_code(cls, value: Any) -> str:
        raw = (clean_text(value, required=True, max_len=16) or "").upper()
        if not _POSTAL_ANY.fullmatch(re.sub(r"[\s\-]", "", raw)):
            raise field_problem(MSG_POSTAL)
        return raw


def validate_link(data: dict[str, Any]) -> LinkForm:
    """The validated dialog, or ValidationFailed with every field error at once."""
    try:
        return LinkForm.model_validate({k: data.get(k) for k in LinkForm.model_fields})
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None
