"""The comparison table of the merge: both records field by field (guide 004).

``COMPARED`` names the fields and whether a difference blocks the merge (company, first and
last name: then a signed contract-transfer form is needed, ``MSG_BLOCKED``). Values are
compared in full but shown masked where a kiosk screen could be read by others (account
numbers, IBANs). No database here: the compare step and the order both build their rows with
``diff_rows``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from db.models import Customer
from services.errors import N_
from services.normalize import fold_name, nfkc

MSG_BLOCKED = N_("Company, first name and/or last name are not identical, so the data cannot "
                 "be taken over for now. To prevent misuse, we need a legal proof for a change "
                 "of these data: please send us a signed contract transfer form. An online "
                 "change is not possible here.")

# (field, label msgid, a difference blocks the merge)
COMPARED: tuple[tuple[str, str, bool], ...] = (
    ("company", N_("Company name"), True),
    ("first_name", N_("First name"), True),
    ("last_name", N_("Last name"), True),
    ("street", N_("Street"), False),
    ("postal_code", N_("Postal code"), False),
    ("city", N_("City"), False),
    ("phone", N_("Phone"), False),
    ("mobile", N_("Mobile"), False),
    ("email", N_("E-mail address"), False),
    ("bank_account", N_("Account number / IBAN"), False),
    ("bank_code", N_("Bank code / BIC"), False),
)


class DiffRow(BaseModel):
    field: str
    label: str  # English msgid
    kept: str
    other: str
    differs: bool
    blocking: bool


def _value(customer: Customer, field: str) -> str:
    if field == "bank_account":
        value = customer.iban or customer.account_number
    elif field == "bank_code":
        value = customer.bic or customer.bank_code
    else:
        value = getattr(customer, field)
    return nfkc(str(value)) if value else ""


def _same(field: str, a: str, b: str, blocking: bool) -> bool:
    if blocking:
        return fold_name(a) == fold_name(b)
    if field in ("bank_account", "bank_code", "phone", "mobile", "postal_code"):
        return "".join(a.split()).upper() == "".join(b.split()).upper()
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _shown(field: str, value: str) -> str:
    """Account numbers and IBANs are shown masked (a kiosk screen can be seen by others)."""
    if field != "bank_account" or len(value) <= 8:
        return value
    compact = "".join(value.split())
    return f"{compact[:4]} •••• {compact[-4:]}"


def diff_rows(keep: Customer, other: Customer) -> list[DiffRow]:
    """The comparison table of the guide, field by field (compared in full, shown masked)."""
    rows = []
    for field, label, blocking in COMPARED:
        a, b = _value(keep, field), _value(other, field)
        rows.append(DiffRow(field=field, label=label, kept=_shown(field, a),
                            other=_shown(field, b), differs=not _same(field, a, b, blocking),
                            blocking=blocking))
    return rows


def _blocked(rows: list[DiffRow]) -> bool:
    return any(r.differs and r.blocking for r in rows)


def _difference_details(rows: list[DiffRow]) -> dict[str, Any]:
    return {r.field: {"kept": r.kept, "other": r.other} for r in rows if r.differs}


def _person(customer: Customer) -> str:
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return ", ".join(p for p in (customer.company, name) if p)
