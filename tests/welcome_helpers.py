"""Small helpers shared by the UI tests (records written straight to the database)."""

from __future__ import annotations

from db.models import Customer
from services.normalize import fold_name


def make_customer(backend, number: str, *, last_name: str, postal_code: str,
                  ctype: str = "private", country: str = "DE", **fields) -> int:
    with backend.transaction() as s:
        customer = Customer(number=number, type=ctype, last_name=last_name,
                            postal_code=postal_code, country=country,
                            search_name=fold_name(last_name), **fields)
        s.add(customer)
        s.flush()
        return customer.id
