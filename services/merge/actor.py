"""Who runs the merge wizard, and its first step (guide 004).

An ``Actor`` is an account, or a customer-number session (logged in with a customer number
and its customer password, no account); ``_actor`` loads it inside a transaction, and every
step asks for it again. ``options`` is step 1: the numbers that may be kept (the account's
linked numbers, or in a customer-number session that number only). ``require_recent_auth`` /
``reauthenticate`` are the password re-entry the proof and the order need, for both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Customer, CustomerLink, Session
from services import sessions, throttle
from services.caller import Caller
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend


class MergeOptions(BaseModel):
    numbers: list[str]
    customer_session: bool
    display_name: str


@dataclass
class Actor:
    """Who runs the wizard: an account, or a customer-number session (no account)."""

    account_id: int | None
    customer_id: int | None
    terminal_id: str | None
    email: str | None
    language: str
    name: str
    reservation: throttle.Reservation | None = None

    @property
    def key(self) -> str:
        return f"a{self.account_id}" if self.account_id is not None else f"c{self.customer_id}"


def _session_kind(db: DbSession, backend: Backend, token: str | None) -> str:
    row = None
    if token:
        row = db.scalars(select(Session).where(
            Session.token_digest == sessions.digest(backend, token))).first()
    if row is not None and row.account_id is None and row.customer_id is not None:
        return "customer"
    return "account"


def _actor(db: DbSession, backend: Backend, token: str | None, *, recent: bool) -> Actor:
    """The session's actor inside the transaction (ReauthRequired when ``recent`` is due)."""
    if _session_kind(db, backend, token) == "customer":
        load_c = sessions.live_recent_customer if recent else sessions.live_customer
        row, customer = load_c(db, backend, token)
        return Actor(None, customer.id, row.terminal_id, customer.email, "de",
                     sessions.customer_display_name(customer))
    load_a = sessions.live_recent if recent else sessions.live
    row, account = load_a(db, backend, token)
    return Actor(account.id, None, row.terminal_id, account.email, account.language,
                 sessions.display_name(account))


def require_recent_auth(backend: Backend, token: str | None) -> None:
    """ReauthRequired unless the password was entered within ``reauth_valid`` (both kinds)."""
    with backend.transaction() as db:
        _actor(db, backend, token, recent=True)


@text_input()
def reauthenticate(backend: Backend, token: str | None, password: str) -> None:
    """The password again: the account's, or the customer password in a number session."""
    with backend.transaction() as db:
        kind = _session_kind(db, backend, token)
    if kind == "customer":
        from services import customer_login

        customer_login.reauthenticate(backend, token, password)
    else:
        sessions.reauthenticate(backend, token, password)


def options(backend: Backend, token: str | None) -> MergeOptions:
    """The numbers that may be kept (linked and not merged), oldest link first."""
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=False)
        if actor.customer_id is not None:
            number = db.scalar(select(Customer.number).where(Customer.id == actor.customer_id))
            return MergeOptions(numbers=[number or ""], customer_session=True,
                                display_name=actor.name)
        numbers = db.scalars(
            select(Customer.number).join(CustomerLink, CustomerLink.customer_id == Customer.id)
            .where(CustomerLink.account_id == actor.account_id,
                   Customer.merged_into_id.is_(None))
            .order_by(CustomerLink.linked_at, CustomerLink.id)).all()
        return MergeOptions(numbers=list(numbers), customer_session=False,
                            display_name=actor.name)


def _language(actor: Actor, caller: Caller) -> str:
    """Mails in the account's language; after a customer-number login in the screen's."""
    return (actor.language if actor.account_id is not None else caller.language) or "de"
