"""The desk's search as you type (#9): customer records and portal accounts by prefix.

``search`` looks for ``query`` at the start of a customer's number, name (umlaut-tolerant,
``Customer.search_name``), postal code, e-mail or contract number, and of a customer
account's user name or e-mail key. Each criterion is one index range scan with its own LIMIT
(``prefix_select``; on PostgreSQL ``LIKE 'p%'`` in ``text_pattern_ops`` order, on SQLite the
range ``p <= x < p + HIGH``), and all of them go to the database in one ``UNION ALL``.
``customer_search_statements`` is also what the query-plan test reads. ``find_number`` jumps
to a record by its exact number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import and_, func, literal, select, text, union_all
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Contract, Customer
from services import sessions
from services.backoffice.common import MSG_NO_CUSTOMER, agent_session, customer_name
from services.errors import NotFound
from services.normalize import (
    customer_number,
    email_key,
    fold_name,
    nfkc,
    text_input,
    username_key,
    without_controls,
)

if TYPE_CHECKING:
    from services.backend import Backend

SEARCH_LIMIT = 25
MIN_QUERY = 2
MAX_QUERY = 100
#: Above every code point: ``p <= x < p + HIGH`` holds exactly for the strings starting with p
#: under a bytewise (SQLite BINARY, UTF-8) comparison.
HIGH = "\U0010ffff"


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
