"""The customer data behind a linked contract: "Kundenverwaltung" (guide 001).

``customer_data`` / ``update_customer_data`` show and change the record of the customer a
linked contract belongs to (saving needs the password entered within 5 minutes; the audit log
gets the changed field names, never their values); ``set_advertising_consent`` appends one row
per change to the consent history (when, text version, terminal) and never overwrites one.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Consent, Contract, ContractLink, Customer
from services import audit, sessions
from services.accounts import MSG_FORM, AddressChecks, clean_text, field_errors, field_problem
from services.caller import Caller
from services.contracts.form import _birth_date
from services.errors import MSG_UNCHANGED, N_, NotFound, ValidationFailed
from services.normalize import customer_number as norm_number
from services.normalize import fold_name, text_input
from services.profile import normalize_phone

if TYPE_CHECKING:
    from services.backend import Backend

CONSENT_KIND = "advertising"
GENDERS = {"female": N_("female"), "male": N_("male"), "diverse": N_("diverse")}

MSG_NOT_YOURS = N_("This contract is not linked to your account.")
MSG_GENDER = N_("Please choose a gender.")
MSG_SAVED = N_("Your customer data has been saved.")
MSG_CONSENT_GIVEN = N_("Thank you: your advertising consent has been recorded.")
MSG_CONSENT_WITHDRAWN = N_("Your advertising consent has been withdrawn.")


class ConsentEntry(BaseModel):
    granted: bool
    text_version: str
    terminal_id: str | None
    at: dt.datetime


class CustomerData(BaseModel):
    contract_number: str
    customer_number: str
    salutation: str | None
    gender: str | None
    first_name: str | None
    last_name: str | None
    birth_date: dt.date | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    recipient: str | None
    recorded_on: dt.date | None
    phone: str | None
    phone_work: str | None
    advertising: bool
    consents: list[ConsentEntry]


class Saved(BaseModel):
    data: CustomerData
    changed: list[str]
    message: str


def _own_customer(db: DbSession, account_id: int, contract_number: str) -> Customer:
    """The customer of a contract linked to this account, else NotFound."""
    customer = db.scalars(
        select(Customer).join(Contract, Contract.customer_id == Customer.id)
        .join(ContractLink, ContractLink.contract_id == Contract.id)
        .where(ContractLink.account_id == account_id,
               Contract.number == norm_number(contract_number))).first()
    if customer is None:
        raise NotFound(MSG_NOT_YOURS)
    return customer


def _consents(db: DbSession, customer: Customer) -> list[ConsentEntry]:
    rows = db.scalars(select(Consent).where(Consent.customer_id == customer.id,
                                            Consent.kind == CONSENT_KIND)
                      .order_by(Consent.created_at.desc(), Consent.id.desc()))
    return [ConsentEntry(granted=r.granted, text_version=r.text_version,
                         terminal_id=r.terminal_id, at=r.created_at) for r in rows]


def _data(db: DbSession, customer: Customer, contract_number: str) -> CustomerData:
    consents = _consents(db, customer)
    return CustomerData(
        contract_number=norm_number(contract_number), customer_number=customer.number,
        salutation=customer.salutation, gender=customer.gender,
        first_name=customer.first_name, last_name=customer.last_name,
        birth_date=customer.birth_date, street=customer.street,
        postal_code=customer.postal_code, city=customer.city, country=customer.country,
        recipient=customer.recipient,
        recorded_on=customer.created_at.date() if customer.created_at else None,
        phone=customer.phone, phone_work=customer.phone_work,
        advertising=bool(consents and consents[0].granted), consents=consents)


@text_input()
def customer_data(backend: Backend, token: str | None, contract_number: str) -> CustomerData:
    """The record of the customer a linked contract belongs to, with the consent history."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        return _data(db, _own_customer(db, account.id, contract_number), contract_number)


class CustomerDataInput(AddressChecks):
    salutation: str | None = None
    gender: str | None = None
    first_name: str
    last_name: str
    birth_date: dt.date | None = None
    street: str
    country: str = "DE"
    postal_code: str
    city: str
    recipient: str | None = None
    phone: str | None = None
    phone_work: str | None = None

    @field_validator("gender", mode="before")
    @classmethod
    def _gender(cls, value: Any) -> str | None:
        if value in (None, ""):
            return None
        if value not in GENDERS:
            raise field_problem(MSG_GENDER)
        return str(value)

    @field_validator("birth_date", mode="before")
    @classmethod
    def _birth_date(cls, value: Any) -> dt.date | None:
        return None if value in (None, "") else _birth_date(value)

    @field_validator("recipient", mode="before")
    @classmethod
    def _recipient(cls, value: Any) -> str | None:
        return clean_text(value, required=False, max_len=200)

    @field_validator("phone", "phone_work", mode="before")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str | None:
        text_ = clean_text(value, required=False, max_len=40)
        return None if text_ is None else normalize_phone(text_, info.data.get("country") or "DE")


EDITABLE = tuple(CustomerDataInput.model_fields)


def validate_customer_data(data: dict[str, Any]) -> CustomerDataInput:
    try:
        return CustomerDataInput.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None


@text_input()
def update_customer_data(backend: Backend, token: str | None, contract_number: str,
                         data: dict[str, Any], caller: Caller) -> Saved:
    """Save the customer record (password entered within 5 minutes); the changed field names,
    never their values, go to the audit log."""
    form = validate_customer_data(data)
    now = backend.now()
    with backend.transaction() as db:
        info = sessions.info(*sessions.live_recent(db, backend, token))
        customer = _own_customer(db, info.account_id, contract_number)
        changed = [name for name in EDITABLE if getattr(customer, name) != getattr(form, name)]
        for name in changed:
            setattr(customer, name, getattr(form, name))
        if changed:
            customer.search_name = fold_name(
                customer.company if customer.type == "company" and customer.company
                else customer.last_name or customer.company) or None
            audit.record(db, "customer_data_changed", actor_id=info.account_id,
                         customer_id=customer.id, terminal_id=caller.terminal_id,
                         fields=",".join(changed), now=now)
        db.flush()
        return Saved(data=_data(db, customer, contract_number), changed=changed,
                     message=MSG_SAVED if changed else MSG_UNCHANGED)


@text_input()
def set_advertising_consent(backend: Backend, token: str | None, contract_number: str,
                            granted: bool, caller: Caller) -> Saved:
    """Give or withdraw the advertising consent: one new history row per change."""
    now = backend.now()
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        customer = _own_customer(db, account.id, contract_number)
        current = _consents(db, customer)
        if bool(current and current[0].granted) == granted:
            return Saved(data=_data(db, customer, contract_number), changed=[],
                         message=MSG_UNCHANGED)
        db.add(Consent(account_id=account.id, customer_id=customer.id, kind=CONSENT_KIND,
                       granted=granted, text_version=backend.settings.marketing_version,
                       terminal_id=caller.terminal_id, created_at=now))
        audit.record(db, "consent_changed", actor_id=account.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, kind=CONSENT_KIND, granted=granted,
                     version=backend.settings.marketing_version, now=now)
        db.flush()
        return Saved(data=_data(db, customer, contract_number), changed=["advertising"],
                     message=MSG_CONSENT_GIVEN if granted else MSG_CONSENT_WITHDRAWN)
