"""What every part of the service desk (#9) shares: the agent check and small record helpers.

``agent_session`` is the door of the whole back office: every desk function calls it inside its
transaction with the session token, and it raises ``NotAllowed`` unless the session belongs to
an agent (or, with ``supervisor=True``, a supervisor). A customer's token never gets further.
Beside it: looking up a customer record or account by id (``NotFound`` otherwise), the display
name of a record, the check of a free-text note (``clean_note``), and the lazily filled
id -> user name map the desk's tables use. The messages here are shared by the other modules
of the package (and by ``services.privacy`` and ``services.contracts``, which work in the
desk too).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Customer
from services import sessions
from services.errors import N_, NotAllowed, NotFound, ValidationFailed
from services.merge import REVERSE_DAYS
from services.normalize import nfkc

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
MAX_NOTE = 2000
MERGE_REVERSIBLE = dt.timedelta(days=REVERSE_DAYS)  # the window services.merge allows


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


def field_text(value: Any) -> str:
    """A record value as the desk shows it: empty for None, ISO for dates."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def account_names(db: DbSession) -> dict[int, str]:
    """Lazily filled id -> user name map (only for the ids asked for)."""
    class Names(dict[int, str]):
        def __missing__(self, key: int) -> str:
            account = db.get(Account, key)
            value = (account.username or account.email or f"#{key}") if account else f"#{key}"
            self[key] = value
            return value

    return Names()
