"""Contracts and subscriptions (guide 001, KVG job-ticket portal): "Vertragsverwaltung".

One package, one module per part of the flow (screens/contracts.py, screens/contract_customer.py
and the desk's objection screen call them):

- ``lists``: the account's linked contracts, active and expired (expiry computed from today's
  date, never a stored flag); ``ContractItem``/``STATUS_LABELS`` also feed the PDF/CSV overview
  in ``services.exports``;
- ``form``: the link dialog (number, birth date, last name, postal code) and how its entries
  are compared with the customer on record;
- ``linking``: ``link_contract`` and ``request_contract_support``, the knowledge check
  hardened against guessing (reservation before comparing, limits per contract, account and
  terminal, the alarm level, the contract row lock);
- ``objections``: the customer's objection to a link, recorded at the service desk, and the
  desk's ``unlink_contract``;
- ``customer``: "Kundenverwaltung", the customer data behind a linked contract and the
  advertising-consent history.

Imports point one way: ``lists`` and ``form`` import no sibling, ``linking`` imports both,
``objections`` imports ``linking``, ``customer`` imports ``form``. Names with an underscore are
shared inside the package only. The names below are the package's face: what screens, other
services, tests and benchmarks use, importable as ``services.contracts.<name>`` as before the
split.
"""

from __future__ import annotations

from services.accounts import MSG_REQUIRED
from services.contracts.customer import (
    GENDERS,
    ConsentEntry,
    CustomerData,
    Saved,
    customer_data,
    set_advertising_consent,
    update_customer_data,
)
from services.contracts.form import (
    MSG_DATE,
    name_matches,
    parse_date,
    postal_matches,
    validate_link,
)
from services.contracts.linking import (
    ALARM_POLICY,
    KIND_BLOCKED,
    MSG_LINKED,
    MSG_NEUTRAL,
    ContractBlocked,
    ContractLinkFailed,
    ContractTaken,
    link_contract,
    request_contract_support,
)
from services.contracts.lists import (
    STATUS_LABELS,
    ContractItem,
    ContractLists,
    contract_lists,
    effective_status,
    is_expired,
)
from services.contracts.objections import (
    MSG_OBJECTION_BAD,
    SUBJECT_OBJECTION,
    ObjectionResult,
    UnlinkResult,
    object_to_link,
    unlink_contract,
)
from services.customer_numbers import SupportResult
from services.normalize import fold_name

__all__ = [
    "ALARM_POLICY", "GENDERS", "KIND_BLOCKED", "MSG_DATE", "MSG_LINKED", "MSG_NEUTRAL",
    "MSG_OBJECTION_BAD", "MSG_REQUIRED", "STATUS_LABELS", "SUBJECT_OBJECTION",
    "ConsentEntry", "ContractBlocked", "ContractItem", "ContractLinkFailed", "ContractLists",
    "ContractTaken", "CustomerData", "ObjectionResult", "Saved", "SupportResult", "UnlinkResult",
    "contract_lists", "customer_data", "effective_status", "fold_name", "is_expired",
    "link_contract", "name_matches", "object_to_link", "parse_date", "postal_matches",
    "request_contract_support", "set_advertising_consent", "unlink_contract",
    "update_customer_data", "validate_link",
]
