"""Labels shared by several flows: the customer types and the country list.

Message ids are English; screens translate them when they are shown.
"""

from __future__ import annotations

from functools import cache

from services import accounts
from services.errors import N_

CUSTOMER_TYPE_LABELS = {
    "private": N_("Private customer"),
    "teacher": N_("Teacher / school"),
    "company": N_("Company"),
    "organiser": N_("Event organiser"),
}
FIRST_COUNTRIES = ("DE", "AT", "CH")


@cache
def country_options(language: str) -> list[tuple[str, str]]:
    """(label, ISO code) pairs: DE, AT, CH first, then the rest by name."""
    from babel import Locale

    names = Locale(language).territories
    codes = sorted(accounts.countries(), key=lambda c: names.get(c, c))
    ordered = [c for c in FIRST_COUNTRIES if c in codes] + [
        c for c in codes if c not in FIRST_COUNTRIES
    ]
    return [(f"{code} – {names.get(code, code)}", code) for code in ordered]
