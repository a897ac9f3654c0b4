"""What the desk sees of one customer record or portal account (#9), read in one transaction.

``customer_view`` gathers a record with everything hanging off it: the master data (the IBAN
masked; ``reveal_iban`` shows it in full on purpose, audited), linked accounts with their
login freeze and open sessions, contracts, licences, company memberships, merges (and
whether they may still be reversed), requests, consents, activation codes and the last
``AUDIT_ROWS`` audit entries. ``account_view`` is the same for a portal account found by the
search. Each view is audited as seen by the agent. The ``*Row`` models are what the screens'
tables show.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session as DbSession

from db.models import (
    Account,
    ActivationCode,
    AuditEvent,
    Consent,
    Contract,
    ContractLink,
    Customer,
    CustomerLink,
    LicenceKey,
    Membership,
    MergeOrder,
    Product,
    SupportRequest,
    Throttle,
)
from services import audit, sessions, throttle
from services.backoffice.common import (
    MERGE_REVERSIBLE,
    account_names,
    agent_session,
    customer_name,
    field_text,
    get_account,
    get_customer,
)
from services.errors import N_
from services.profile import mask_iban

if TYPE_CHECKING:
    from services.backend import Backend

class AccountRow(BaseModel):
    id: int
    username: str | None
    email: str | None
    name: str
    status: str
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    linked_at: dt.datetime | None = None
    login_frozen: bool = False
    open_sessions: int = 0


class ContractRow(BaseModel):
    number: str
    product: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    status: str
    linked_to: str | None


class LicenceRow(BaseModel):
    product: str
    valid_until: dt.date | None
    redeemed_by: str | None
    redeemed_at: dt.datetime | None


class MembershipRow(BaseModel):
    id: int
    email: str
    role: str
    state: str
    created_at: dt.datetime


class MergeRow(BaseModel):
    id: int
    kept: str
    merged: str
    status: str
    created_at: dt.datetime
    reversible: bool


class RequestRow(BaseModel):
    id: int
    kind: str
    status: str
    subject: str | None
    created_at: dt.datetime


class ConsentRow(BaseModel):
    kind: str
    granted: bool
    text_version: str
    created_at: dt.datetime


class AuditRow(BaseModel):
    at: dt.datetime
    event: str
    outcome: str
    actor: str | None
    details: str


class CodeRow(BaseModel):
    created_at: dt.datetime
    valid_until: dt.date | None
    state: str  # open | used | revoked | expired


class CustomerView(BaseModel):
    id: int
    number: str
    type: str
    name: str
    record: list[tuple[str, str]]  # (field msgid, value) in display order
    merged_into: str | None
    code_frozen: bool
    accounts: list[AccountRow]
    contracts: list[ContractRow]
    licences: list[LicenceRow]
    memberships: list[MembershipRow]
    merges: list[MergeRow]
    requests: list[RequestRow]
    consents: list[ConsentRow]
    codes: list[CodeRow]
    audit: list[AuditRow]


RECORD_FIELDS = (
    ("type", N_("Customer type")), ("company", N_("Company")), ("salutation", N_("Salutation")),
    ("first_name", N_("First name")), ("last_name", N_("Last name")),
    ("birth_date", N_("Date of birth")), ("street", N_("Street and house number")),
    ("postal_code", N_("Postal code")), ("city", N_("City")), ("country", N_("Country")),
    ("phone", N_("Phone")), ("mobile", N_("Mobile")), ("email", N_("E-mail address")),
    ("iban", N_("IBAN")), ("bic", N_("BIC")),
)
AUDIT_ROWS = 100


def _frozen(db: DbSession, action: str, scope: str, key: str) -> bool:
    return bool(db.scalar(select(Throttle.frozen).where(
        Throttle.action == action, Throttle.scope == scope, Throttle.key == key[:128])))


def account_row(db: DbSession, account: Account, linked_at: dt.datetime | None = None
                ) -> AccountRow:
    from db.models import Session

    open_sessions = db.scalar(select(func.count()).select_from(Session).where(
        Session.account_id == account.id, Session.ended_at.is_(None))) or 0
    return AccountRow(id=account.id, username=account.username, email=account.email,
                      name=sessions.display_name(account), status=account.status,
                      created_at=account.created_at, last_login_at=account.last_login_at,
                      linked_at=linked_at,
                      login_frozen=_frozen(db, "login", "account", f"a{account.id}"),
                      open_sessions=open_sessions)


def reveal_iban(backend: Backend, token: str | None, customer_id: int) -> str:
    """The full IBAN of a record (the view shows it masked) for an agent who deliberately
    asks; audited, never with the IBAN itself."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        customer = get_customer(db, customer_id)
        audit.record(db, "desk_iban_shown", actor_id=agent.id, customer_id=customer.id,
                     now=backend.now())
        return customer.iban or ""


def customer_view(backend: Backend, token: str | None, customer_id: int) -> CustomerView:
    """Everything the desk needs about one customer record, read in one transaction."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        customer = get_customer(db, customer_id)
        now = backend.now()
        names = account_names(db)
        view = CustomerView(
            id=customer.id, number=customer.number, type=customer.type,
            name=customer_name(customer),
            record=[(label, field_text(mask_iban(customer.iban) if field == "iban"
                                  else getattr(customer, field)))
                    for field, label in RECORD_FIELDS],
            merged_into=customer.merged_into.number if customer.merged_into else None,
            code_frozen=throttle.record_locked(db, "link_code", customer.number, now),
            accounts=_accounts(db, customer), contracts=_contracts(db, customer, names),
            licences=_licences(db, customer, names), memberships=_memberships(db, customer),
            merges=_merges(db, customer, now), requests=_requests(db, customer),
            consents=_consents(db, customer), codes=_codes(db, customer, now),
            audit=_audit(db, customer, names),
        )
        audit.record(db, "desk_customer_viewed", actor_id=agent.id, customer_id=customer.id,
                     now=now)
        return view


def _accounts(db: DbSession, customer: Customer) -> list[AccountRow]:
    rows = db.execute(select(Account, CustomerLink.linked_at).join(
        CustomerLink, CustomerLink.account_id == Account.id).where(
        CustomerLink.customer_id == customer.id)).all()
    return [account_row(db, account, linked_at) for account, linked_at in rows]


def _contracts(db: DbSession, customer: Customer, names: dict[int, str]) -> list[ContractRow]:
    rows = db.execute(select(Contract, ContractLink.account_id).outerjoin(
        ContractLink, ContractLink.contract_id == Contract.id).where(
        Contract.customer_id == customer.id).order_by(Contract.number)).all()
    return [ContractRow(number=c.number, product=c.product, valid_from=c.valid_from,
                        valid_to=c.valid_to, status=c.status,
                        linked_to=names[aid] if aid else None) for c, aid in rows]


def _licences(db: DbSession, customer: Customer, names: dict[int, str]) -> list[LicenceRow]:
    rows = db.execute(select(LicenceKey, Product.name).join(
        Product, Product.id == LicenceKey.product_id).where(
        LicenceKey.customer_id == customer.id).order_by(LicenceKey.id)).all()
    return [LicenceRow(product=name, valid_until=k.valid_until,
                       redeemed_by=names[k.redeemed_by_id] if k.redeemed_by_id else None,
                       redeemed_at=k.redeemed_at) for k, name in rows]


def _memberships(db: DbSession, customer: Customer) -> list[MembershipRow]:
    rows = db.scalars(select(Membership).where(Membership.customer_id == customer.id)
                      .order_by(Membership.created_at))
    return [MembershipRow(id=m.id, email=m.email_key, role=m.role, state=m.state,
                          created_at=m.created_at) for m in rows]


def _merges(db: DbSession, customer: Customer, now: dt.datetime) -> list[MergeRow]:
    rows = db.scalars(select(MergeOrder).where(or_(
        MergeOrder.kept_customer_id == customer.id,
        MergeOrder.merged_customer_id == customer.id)).order_by(MergeOrder.created_at))
    numbers = {}
    result = []
    for order in rows:
        for cid in (order.kept_customer_id, order.merged_customer_id):
            if cid not in numbers:
                numbers[cid] = db.scalar(select(Customer.number).where(Customer.id == cid))
        result.append(MergeRow(
            id=order.id, kept=numbers[order.kept_customer_id],
            merged=numbers[order.merged_customer_id], status=order.status,
            created_at=order.created_at,
            reversible=order.status == "done" and now - order.created_at <= MERGE_REVERSIBLE))
    return result


def _requests(db: DbSession, customer: Customer) -> list[RequestRow]:
    rows = db.scalars(select(SupportRequest).where(SupportRequest.customer_id == customer.id)
                      .order_by(SupportRequest.created_at.desc()))
    return [RequestRow(id=r.id, kind=r.kind, status=r.status, subject=r.subject,
                       created_at=r.created_at) for r in rows]


def _consents(db: DbSession, customer: Customer) -> list[ConsentRow]:
    linked = select(CustomerLink.account_id).where(CustomerLink.customer_id == customer.id)
    rows = db.scalars(select(Consent).where(or_(
        Consent.customer_id == customer.id, Consent.account_id.in_(linked)))
        .order_by(Consent.created_at.desc(), Consent.id.desc()))
    return [ConsentRow(kind=c.kind, granted=c.granted, text_version=c.text_version,
                       created_at=c.created_at) for c in rows]


def _codes(db: DbSession, customer: Customer, now: dt.datetime) -> list[CodeRow]:
    rows = db.scalars(select(ActivationCode).where(ActivationCode.customer_id == customer.id)
                      .order_by(ActivationCode.created_at.desc(), ActivationCode.id.desc()))
    result = []
    for row in rows:
        if row.revoked_at is not None:
            state = "revoked"
        elif row.used_at is not None:
            state = "used"
        elif row.valid_until is not None and row.valid_until < now.date():
            state = "expired"
        else:
            state = "open"
        result.append(CodeRow(created_at=row.created_at, valid_until=row.valid_until,
                              state=state))
    return result


def _audit(db: DbSession, customer: Customer, names: dict[int, str]) -> list[AuditRow]:
    rows = db.scalars(select(AuditEvent).where(AuditEvent.customer_id == customer.id)
                      .order_by(AuditEvent.id.desc()).limit(AUDIT_ROWS))
    return [AuditRow(at=e.at, event=e.event, outcome=e.outcome,
                     actor=names[e.actor_id] if e.actor_id else None,
                     details=", ".join(f"{k}={v}" for k, v in sorted(e.details.items())))
            for e in rows]


class AccountView(BaseModel):
    account: AccountRow
    numbers: list[tuple[int, str]]  # (customer id, number)


def account_view(backend: Backend, token: str | None, account_id: int) -> AccountView:
    """A portal account (from the search) with its linked customer numbers."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        account = get_account(db, account_id)
        numbers = db.execute(select(Customer.id, Customer.number).join(
            CustomerLink, CustomerLink.customer_id == Customer.id).where(
            CustomerLink.account_id == account.id).order_by(Customer.number)).all()
        audit.record(db, "desk_account_viewed", actor_id=agent.id, account=account.id,
                     now=backend.now())
        return AccountView(account=account_row(db, account),
                           numbers=[(cid, number) for cid, number in numbers])
