"""Service-desk back office (#9): agent authorisation, search as you type, the customer view,
the queues and the dashboard. The actions are in ``services.backoffice_actions``.

Every function takes the agent's session token and checks, inside its transaction, that the
session belongs to an agent or supervisor (``agent_session``); supervisor-only actions pass
``supervisor=True``. A customer's token gets ``NotAllowed``: nothing here is reachable from a
customer session. Record text is returned as data; screens render it as plain text.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import and_, exists, func, literal, or_, select, text, union_all
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from db.engine import for_update
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
    RequestComment,
    SupportRequest,
    Throttle,
)
from services import audit, mail, sessions, throttle
from services.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from services.merge import REVERSE_DAYS
from services.normalize import (
    customer_number,
    email_key,
    fold_name,
    nfkc,
    text_input,
    username_key,
    without_controls,
)
from services.profile import mask_iban

if TYPE_CHECKING:
    from services.backend import Backend

MSG_NOT_ALLOWED = N_("This function is for the service desk only.")
MSG_SUPERVISOR = N_("Only a supervisor may do this.")
MSG_NO_CUSTOMER = N_("This customer record does not exist.")
MSG_NO_ACCOUNT = N_("This user account does not exist.")
MSG_NO_REQUEST = N_("This request does not exist.")
MSG_CLOSED = N_("This request is already closed.")
MSG_COMMENT_EMPTY = N_("Please enter a comment.")
MSG_NOTE_TOO_LONG = N_("The text is too long (at most {max} characters).")

#: SupportRequest.kind values the desk works on (shared names, see DESIGN notes of #9).
REQUEST_KINDS = ("link_conflict_taken", "link_conflict_type", "address_review",
                 "contract_link_blocked", "merge_blocked", throttle.KIND_ALARM,
                 "privacy_deletion")  # #16: desk deletions awaiting a supervisor (privacy.py)
#: Not a row: pending memberships older than ``STALE_AFTER`` (read from the membership table).
STALE_ORG = "org_request_stale"
QUEUES = (*REQUEST_KINDS, STALE_ORG)
STALE_AFTER = dt.timedelta(days=3)
OPEN_STATES = ("open", "taken")
SEARCH_LIMIT = 25
MIN_QUERY = 2
MAX_QUERY = 100
MAX_NOTE = 2000
#: Above every code point: ``p <= x < p + HIGH`` holds exactly for the strings starting with p
#: under a bytewise (SQLite BINARY, UTF-8) comparison.
HIGH = "\U0010ffff"


# --------------------------------------------------------------------------- authorisation


def agent_session(db: DbSession, backend: Backend, token: str | None, *,
                  supervisor: bool = False) -> Account:
    """The agent behind ``token`` (idle/absolute timeouts checked) or NotAllowed."""
    _row, account = sessions.live(db, backend, token)
    if account.kind not in sessions.AGENT_KINDS:
        raise NotAllowed(MSG_NOT_ALLOWED)
    if supervisor and account.kind != "supervisor":
        raise NotAllowed(MSG_SUPERVISOR)
    return account


class AgentInfo(BaseModel):
    id: int
    name: str
    role: str


def whoami(backend: Backend, token: str | None) -> AgentInfo:
    """The logged-in agent (NotAllowed for customers)."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        return AgentInfo(id=agent.id, name=agent.username or "", role=agent.kind)


def get_customer(db: DbSession, customer_id: int) -> Customer:
    customer = db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(MSG_NO_CUSTOMER)
    return customer


def get_account(db: DbSession, account_id: int, *, customers_only: bool = True) -> Account:
    account = db.get(Account, account_id)
    if account is None or (customers_only and account.kind != "customer"):
        raise NotFound(MSG_NO_ACCOUNT)
    return account


def customer_name(customer: Customer) -> str:
    person = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    if customer.company:
        return f"{customer.company} ({person})" if person else customer.company
    return person


def clean_note(text: str | None, *, required: bool = False) -> str:
    value = nfkc(text or "").strip()
    if required and not value:
        raise ValidationFailed(MSG_COMMENT_EMPTY, fields={"comment": MSG_COMMENT_EMPTY})
    if len(value) > MAX_NOTE:
        raise ValidationFailed(MSG_NOTE_TOO_LONG, fields={"comment": MSG_NOTE_TOO_LONG},
                               params={"max": MAX_NOTE})
    return value


# --------------------------------------------------------------------------- search


class SearchHit(BaseModel):
    kind: str  # customer | account
    id: int
    number: str | None = None
    name: str
    postal_code: str | None = None
    city: str | None = None
    email: str | None = None
    status: str | None = None
    matched: str  # number | name | postal_code | email | contract | username


def prefix_match(db: DbSession, column: Any, prefix: str) -> Any:
    """``column`` starts with ``prefix``, in a form the database answers from an index."""
    if db.get_bind().dialect.name == "postgresql":
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(escaped + "%", escape="\\")
    return and_(column >= prefix, column < prefix + HIGH)


def prefix_order(db: DbSession, column: Any) -> Any:
    """The index order of ``prefix_match``: on PostgreSQL the ``text_pattern_ops`` order
    (``USING ~<~``), so the range scan also delivers the order and stops at the LIMIT (a
    plain ORDER BY would walk the whole collation index and filter)."""
    if db.get_bind().dialect.name == "postgresql":
        compiled = column.compile(dialect=db.get_bind().dialect)
        return text(f"{compiled} USING ~<~")
    return column


def prefix_select(db: DbSession, result: Any, column: Any, prefix: str, *where: Any) -> Any:
    """SELECT ``result`` WHERE ``column`` starts with ``prefix`` in index order, LIMITed."""
    return (select(result).where(prefix_match(db, column, prefix), *where)
            .order_by(prefix_order(db, column)).limit(SEARCH_LIMIT))


def customer_search_statements(db: DbSession, query: str) -> list[tuple[str, Any]]:
    """(criterion, SELECT of customer ids) for each way ``query`` may match; each one an
    index range scan with a LIMIT (also used by the query-plan test)."""
    number = customer_number(query)
    folded = fold_name(query)
    lowered = nfkc(query).strip().casefold()
    statements: list[tuple[str, Any]] = []
    for criterion, result, column, value in (
        ("number", Customer.id, Customer.number, number),
        ("name", Customer.id, Customer.search_name, folded),
        ("postal_code", Customer.id, Customer.postal_code, nfkc(query).strip().upper()),
        ("email", Customer.id, func.lower(Customer.email), lowered),
        ("contract", Contract.customer_id, Contract.number, number),
    ):
        if value:
            statements.append((criterion, prefix_select(db, result, column, value)))
    return statements


def account_search_statements(db: DbSession, query: str) -> list[tuple[str, Any]]:
    statements = []
    for criterion, column, value in (("email", Account.email_key, email_key(query)),
                                     ("username", Account.username_key, username_key(query))):
        if value:
            statements.append((criterion, prefix_select(db, Account.id, column, value,
                                                        Account.kind == "customer")))
    return statements


def search(backend: Backend, token: str | None, query: str) -> list[SearchHit]:
    """Customers and portal accounts whose number, name (umlaut-tolerant), e-mail, postal code,
    contract number, user name or e-mail key starts with ``query`` (at most 25 of each)."""
    text = nfkc(without_controls(query or "")).strip()[:MAX_QUERY]  # a search box: stripped
    with backend.transaction() as db:
        agent_session(db, backend, token)
        if len(text) < MIN_QUERY:
            return []
        matched: dict[int, str] = {}
        for criterion, cid in db.execute(_union(customer_search_statements(db, text))):
            matched.setdefault(cid, criterion)
        order = {cid: i for i, cid in enumerate(matched)}  # criteria order, then index order
        hits = sorted((_customer_hit(c, matched[c.id]) for c in
                       db.scalars(select(Customer).where(Customer.id.in_(list(matched))))),
                      key=lambda h: order[h.id])
        accounts: dict[int, str] = {}
        for criterion, aid in db.execute(_union(account_search_statements(db, text))):
            accounts.setdefault(aid, criterion)
        for account in db.scalars(select(Account).where(Account.id.in_(list(accounts)))):
            hits.append(SearchHit(kind="account", id=account.id, name=sessions.display_name(account),
                                  postal_code=account.postal_code, city=account.city,
                                  email=account.email, status=account.status,
                                  matched=accounts[account.id]))
        return hits


def _union(statements: list[tuple[str, Any]]) -> Any:
    """All criteria in one round trip: (criterion, id) rows, each part still its own index
    range scan with its own LIMIT (wrapped as subqueries, which SQLite needs for that)."""
    parts = []
    for criterion, statement in statements:
        sub = statement.subquery()
        parts.append(select(literal(criterion).label("criterion"),
                            list(sub.c)[0].label("id")))
    return union_all(*parts)


def _customer_hit(customer: Customer, criterion: str) -> SearchHit:
    return SearchHit(kind="customer", id=customer.id, number=customer.number,
                     name=customer_name(customer), postal_code=customer.postal_code,
                     city=customer.city, email=customer.email,
                     status="merged" if customer.merged_into_id else None, matched=criterion)


@text_input()
def find_number(backend: Backend, token: str | None, number: str) -> int:
    """The id of the customer with exactly this number ("jump to customer by number")."""
    with backend.transaction() as db:
        agent_session(db, backend, token)
        cid = db.scalar(select(Customer.id).where(Customer.number == customer_number(number)))
        if cid is None:
            raise NotFound(MSG_NO_CUSTOMER)
        return cid


# --------------------------------------------------------------------------- customer view


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
MERGE_REVERSIBLE = dt.timedelta(days=REVERSE_DAYS)  # the window services.merge allows
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
        names = _account_names(db)
        view = CustomerView(
            id=customer.id, number=customer.number, type=customer.type,
            name=customer_name(customer),
            record=[(label, _text(mask_iban(customer.iban) if field == "iban"
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


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _account_names(db: DbSession) -> dict[int, str]:
    """Lazily filled id -> user name map (only for the ids asked for)."""
    class Names(dict[int, str]):
        def __missing__(self, key: int) -> str:
            account = db.get(Account, key)
            value = (account.username or account.email or f"#{key}") if account else f"#{key}"
            self[key] = value
            return value

    return Names()


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


# --------------------------------------------------------------------------- queues


class CommentRow(BaseModel):
    author: str | None
    body: str
    created_at: dt.datetime


class QueueItem(BaseModel):
    id: int
    kind: str
    status: str
    subject: str | None
    customer_id: int | None
    customer_number: str | None
    account_name: str | None
    account_email: str | None
    assigned_to: str | None
    created_at: dt.datetime
    details: list[tuple[str, str]]
    comments: list[CommentRow] = []


def queue_counts(backend: Backend, token: str | None) -> dict[str, int]:
    """Open (open or taken) items per queue, stale organisation requests included."""
    with backend.transaction() as db:
        agent_session(db, backend, token)
        return _counts(db, backend.now())


def _counts(db: DbSession, now: dt.datetime) -> dict[str, int]:
    counts = dict.fromkeys(QUEUES, 0)
    for kind, count in db.execute(select(SupportRequest.kind, func.count()).where(
            SupportRequest.status.in_(OPEN_STATES)).group_by(SupportRequest.kind)):
        if kind in counts:
            counts[kind] = count
    counts[STALE_ORG] = db.scalar(select(func.count()).select_from(Membership).where(
        *_stale(now))) or 0
    return counts


#: The open items per queue in the caller's transaction (``services.metrics``, ``kiosk status``).
open_queue_counts = _counts


def _stale(now: dt.datetime) -> tuple[Any, ...]:
    """Requests waiting 3 days, and at once those of a company without any super admin to
    decide (none with an active membership, none known from the records)."""
    admin = aliased(Membership)
    nobody = ~exists().where(admin.customer_id == Membership.customer_id,
                             admin.role == "super_admin",
                             admin.state.in_(("active", "approved", "invited")))
    return (Membership.state == "pending_approval",
            or_(Membership.created_at <= now - STALE_AFTER, nobody))


def queue_items(backend: Backend, token: str | None, kind: str) -> list[QueueItem]:
    """The open items of one queue, oldest first."""
    with backend.transaction() as db:
        agent_session(db, backend, token)
        if kind not in QUEUES:
            raise NotFound(MSG_NO_REQUEST)
        names = _account_names(db)
        if kind == STALE_ORG:
            rows = db.scalars(select(Membership).where(*_stale(backend.now()))
                              .order_by(Membership.created_at).limit(200))
            return [_membership_item(db, m) for m in rows]
        requests = db.scalars(select(SupportRequest).where(
            SupportRequest.kind == kind, SupportRequest.status.in_(OPEN_STATES))
            .order_by(SupportRequest.created_at, SupportRequest.id).limit(200))
        return [request_item(db, r, names) for r in requests]


def request_item(db: DbSession, request: SupportRequest, names: dict[int, str]) -> QueueItem:
    account = db.get(Account, request.account_id) if request.account_id else None
    customer = db.get(Customer, request.customer_id) if request.customer_id else None
    comments = db.scalars(select(RequestComment).where(RequestComment.request_id == request.id)
                          .order_by(RequestComment.id))
    return QueueItem(
        id=request.id, kind=request.kind, status=request.status, subject=request.subject,
        customer_id=request.customer_id, customer_number=customer.number if customer else None,
        account_name=sessions.display_name(account) if account else None,
        account_email=account.email if account else None,
        assigned_to=names[request.assigned_to_id] if request.assigned_to_id else None,
        created_at=request.created_at,
        details=[(str(k), _text(v)) for k, v in sorted(request.details.items())],
        comments=[CommentRow(author=names[c.author_id] if c.author_id else None, body=c.body,
                             created_at=c.created_at) for c in comments])


def _membership_item(db: DbSession, membership: Membership) -> QueueItem:
    customer = db.get(Customer, membership.customer_id)
    account = db.get(Account, membership.account_id) if membership.account_id else None
    return QueueItem(
        id=membership.id, kind=STALE_ORG, status="open", subject=None,
        customer_id=membership.customer_id,
        customer_number=customer.number if customer else None,
        account_name=sessions.display_name(account) if account else None,
        account_email=membership.email_key, assigned_to=None, created_at=membership.created_at,
        details=[("role", membership.role), ("organisation",
                                             customer_name(customer) if customer else "")])


def _open_request(db: DbSession, backend: Backend, request_id: int) -> SupportRequest:
    request = db.scalars(for_update(
        select(SupportRequest).where(SupportRequest.id == request_id), db)).first()
    if request is None:
        raise NotFound(MSG_NO_REQUEST)
    if request.status not in OPEN_STATES:
        raise Conflict(MSG_CLOSED)
    return request


def take(backend: Backend, token: str | None, request_id: int) -> QueueItem:
    """Assign a request to the calling agent."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        request = _open_request(db, backend, request_id)
        now = backend.now()
        request.status, request.assigned_to_id, request.updated_at = "taken", agent.id, now
        audit.record(db, "desk_request_taken", actor_id=agent.id,
                     customer_id=request.customer_id, reference=request.id, kind=request.kind,
                     now=now)
        db.flush()
        return request_item(db, request, _account_names(db))


@text_input()
def comment(backend: Backend, token: str | None, request_id: int, body: str) -> QueueItem:
    """An internal comment on a request (not mailed)."""
    text = clean_note(body, required=True)
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        request = _open_request(db, backend, request_id)
        now = backend.now()
        db.add(RequestComment(request_id=request.id, author_id=agent.id, body=text,
                              created_at=now))
        request.updated_at = now
        audit.record(db, "desk_request_comment", actor_id=agent.id,
                     customer_id=request.customer_id, reference=request.id, now=now)
        db.flush()
        return request_item(db, request, _account_names(db))


@text_input()
def close(backend: Backend, token: str | None, request_id: int, outcome: str,
          note: str = "") -> QueueItem:
    """Resolve (``outcome="resolved"``) or reject a request; the customer gets a mail with
    the note. Organisation requests (``STALE_ORG``) are closed with ``close_membership``."""
    if outcome not in ("resolved", "rejected"):
        raise ValidationFailed(MSG_NO_REQUEST)
    text = clean_note(note, required=outcome == "rejected")
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        request = _open_request(db, backend, request_id)
        now = backend.now()
        request.status, request.resolution, request.updated_at = outcome, text or None, now
        if request.assigned_to_id is None:
            request.assigned_to_id = agent.id
        audit.record(db, f"desk_request_{outcome}", actor_id=agent.id,
                     customer_id=request.customer_id, reference=request.id, kind=request.kind,
                     now=now)
        account = db.get(Account, request.account_id) if request.account_id else None
        if account is not None and account.email:
            mail.enqueue(db, to=account.email, template=f"desk_request_{outcome}",
                         language=account.language,
                         params={"name": sessions.display_name(account),
                                 "reference": str(request.id),
                                 "subject": request.subject or "", "note": text})
        db.flush()
        return request_item(db, request, _account_names(db))


@text_input()
def close_membership(backend: Backend, token: str | None, membership_id: int, outcome: str,
                     note: str = "") -> None:
    """A stale organisation request: approve (``resolved``) or reject it for the company's
    administrators; the person is told by mail."""
    if outcome not in ("resolved", "rejected"):
        raise ValidationFailed(MSG_NO_REQUEST)
    text = clean_note(note, required=outcome == "rejected")
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        membership = db.scalars(for_update(
            select(Membership).where(Membership.id == membership_id), db)).first()
        if membership is None:
            raise NotFound(MSG_NO_REQUEST)
        if membership.state != "pending_approval":
            raise Conflict(MSG_CLOSED)
        now = backend.now()
        membership.state = "approved" if outcome == "resolved" else "rejected"
        membership.decided_by_id, membership.decided_at = agent.id, now
        membership.reason = text or None
        audit.record(db, f"desk_membership_{membership.state}", actor_id=agent.id,
                     customer_id=membership.customer_id, reference=membership.id, now=now)
        customer = db.get(Customer, membership.customer_id)
        account = db.get(Account, membership.account_id) if membership.account_id else None
        mail.enqueue(db, to=account.email if account and account.email else membership.email_key,
                     template=f"desk_membership_{membership.state}",
                     language=account.language if account else backend.settings.language,
                     params={"name": sessions.display_name(account) if account else "",
                             "organisation": customer_name(customer) if customer else "",
                             "note": text})


# --------------------------------------------------------------------------- dashboard


#: Series of the dashboard: name -> (audit event, outcome or None for "any failure").
SERIES = {
    "registrations": (("registration",), "ok"),
    "links": (("customer_linked", "contract_linked"), "ok"),
    "redemptions": (("licence_redeemed",), "ok"),
    "failures": (("login", "customer_link", "licence_redeem", "contract_link",
                  "email_verification", "password_reset", "customer_login"), "failed"),
}
DASHBOARD_DAYS = 14


class Dashboard(BaseModel):
    queues: dict[str, int]
    days: list[dt.date]
    series: dict[str, list[int]]


def dashboard(backend: Backend, token: str | None, days: int = DASHBOARD_DAYS) -> Dashboard:
    """Open queue sizes and, per day, registrations, links, redemptions and failed attempts."""
    with backend.transaction() as db:
        agent_session(db, backend, token)
        now = backend.now()
        first = now.date() - dt.timedelta(days=days - 1)
        start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        events = {e for names, _ in SERIES.values() for e in names}
        day = func.date(AuditEvent.at)
        totals: dict[tuple[str, str, str], int] = defaultdict(int)
        for when, event, outcome, count in db.execute(
                select(day, AuditEvent.event, AuditEvent.outcome, func.count())
                .where(AuditEvent.at >= start, AuditEvent.event.in_(events))
                .group_by(day, AuditEvent.event, AuditEvent.outcome)):
            totals[(str(when)[:10], event, outcome)] += count
        dates = [first + dt.timedelta(days=i) for i in range(days)]
        series = {
            name: [sum(totals.get((d.isoformat(), e, outcome), 0) for e in names)
                   for d in dates]
            for name, (names, outcome) in SERIES.items()
        }
        return Dashboard(queues=_counts(db, now), days=dates, series=series)


__all__ = ["reveal_iban", "QUEUES", "REQUEST_KINDS", "STALE_ORG", "AccountView", "CustomerView", "Dashboard",
           "QueueItem", "SearchHit", "account_view", "agent_session", "close",
           "close_membership", "comment", "customer_view", "dashboard", "find_number",
           "queue_counts", "queue_items", "search", "take", "whoami"]
