"""The account's contracts: "Vertragsverwaltung" / "Aboverwaltung" (guide 001).

``contract_lists(backend, token)`` gives the account's linked contracts split into the active
ones and the expired ones. Whether a contract has expired is computed from today's date
(``valid_to`` in the past), never from a stored flag, so a contract moves to the expired list
by itself (``is_expired``, ``effective_status``). ``ContractItem`` is also what a successful
link returns (``services.contracts.linking``) and what the PDF/CSV overview of
``services.exports`` prints, with the ``STATUS_LABELS``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select

from db.models import Contract, ContractLink, Customer
from services import sessions
from services.errors import N_

if TYPE_CHECKING:
    from services.backend import Backend

STATUSES = ("active", "expired", "cancelled", "suspended", "pending")
STATUS_LABELS = {
    "active": N_("ACTIVE"),
    "expired": N_("EXPIRED"),
    "cancelled": N_("CANCELLED"),
    "suspended": N_("SUSPENDED"),
    "pending": N_("PENDING"),
}


class ContractItem(BaseModel):
    number: str
    abo_number: str | None
    product: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None  # None: "unbefristet"
    status: str  # effective status, see ``effective_status``
    expired: bool
    customer_number: str
    linked_at: dt.datetime


class ContractLists(BaseModel):
    today: dt.date
    active: list[ContractItem]
    expired: list[ContractItem]

    @property
    def all(self) -> list[ContractItem]:
        return [*self.active, *self.expired]


def is_expired(contract: Contract, today: dt.date) -> bool:
    """Expired: marked so by the back office, or its end date has passed."""
    return contract.status == "expired" or (contract.valid_to is not None
                                            and contract.valid_to < today)


def effective_status(contract: Contract, today: dt.date) -> str:
    """The status to show: an active contract past its end date is expired."""
    if contract.status == "active" and is_expired(contract, today):
        return "expired"
    return contract.status if contract.status in STATUSES else "active"


def _item(contract: Contract, customer_number: str, link: ContractLink,
          today: dt.date) -> ContractItem:
    return ContractItem(number=contract.number, abo_number=contract.abo_number,
                        product=contract.product, valid_from=contract.valid_from,
                        valid_to=contract.valid_to, status=effective_status(contract, today),
                        expired=is_expired(contract, today), customer_number=customer_number,
                        linked_at=link.linked_at)


def contract_lists(backend: Backend, token: str | None) -> ContractLists:
    """The account's linked contracts: active ones (newest first) and expired ones."""
    today = backend.now().astimezone().date()
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        rows = db.execute(
            select(Contract, Customer.number, ContractLink)
            .join(ContractLink, ContractLink.contract_id == Contract.id)
            .join(Customer, Customer.id == Contract.customer_id)
            .where(ContractLink.account_id == account.id)).all()
    items = [_item(contract, number, link, today) for contract, number, link in rows]
    never = dt.date.max
    active = sorted((i for i in items if not i.expired),
                    key=lambda i: (i.valid_from or dt.date.min, i.number), reverse=True)
    expired = sorted((i for i in items if i.expired),
                     key=lambda i: (i.valid_to or never, i.number), reverse=True)
    return ContractLists(today=today, active=active, expired=expired)
