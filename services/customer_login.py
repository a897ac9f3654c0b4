"""Login with a customer number and its customer password (guide 004).

A contract partner without a portal account logs in on the usual login screen with one of
the customer numbers and that number's customer password (``Customer.password_hash``,
argon2id, from the import). The session has ``customer_id`` set and no account
(``sessions.create_for_customer``); it sees that customer record only and may run the merge
wizard, in which the number logged in with is the one that is kept.

Throttling is the one of the account login: counters ``("login", "customer", "c<number>")``
with ``throttle.LOGIN_ACCOUNT`` and ``("login", "terminal", …)`` with
``throttle.LOGIN_TERMINAL``; exactly one argon2 verification on every path (a dummy hash for
an unknown number) and one neutral message for every failure.

``login_any`` routes an identifier: a customer number (digits, no account of that username)
goes here, everything else to ``accounts.login``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Customer
from services import accounts, audit, sessions, throttle
from services.caller import Caller
from services.errors import N_, AuthFailed, DomainError, Throttled, ValidationFailed
from services.normalize import customer_number as norm_number
from services.normalize import text_input, username_key
from services.passwords import MAX_LENGTH, length

if TYPE_CHECKING:
    from services.backend import Backend

MSG_REQUIRED = N_("This field must not be empty.")
MSG_FAILED = N_("The customer number or the customer password is not correct, or the "
                "customer number cannot be used to log in.")
_NUMBER = re.compile(r"^[0-9][0-9\-/.]{2,31}$")


class CustomerLoginResult(BaseModel):
    token: str
    customer_id: int
    number: str
    display_name: str


def looks_like_customer_number(identifier: str) -> bool:
    """Customer numbers are digits (with ``-``, ``/`` or ``.``); usernames and e-mails are not."""
    return bool(_NUMBER.match(norm_number(identifier or "")))


def _raise_after_commit(db: DbSession, error: DomainError) -> None:
    db.commit()
    raise error


@text_input()
def login(backend: Backend, number: str, password: str, caller: Caller
          ) -> CustomerLoginResult:
    """Open a customer-number session (see module doc); neutral ``AuthFailed`` otherwise."""
    fields = {}
    if not (number or "").strip():
        fields["identifier"] = MSG_REQUIRED
    if not password:
        fields["password"] = MSG_REQUIRED
    if fields:
        raise ValidationFailed(MSG_REQUIRED, fields=fields)
    failed = AuthFailed(MSG_FAILED, fields={"password": MSG_FAILED})
    if length(password) > MAX_LENGTH:
        raise failed
    num = norm_number(number)[:32]
    now = backend.now()
    terminal = (caller.terminal_id or "unknown")[:128]
    key = f"c{num}"
    with backend.transaction() as db:
        term_state, state = throttle.check_many(db, [
            ("login", "terminal", terminal, throttle.LOGIN_TERMINAL),
            ("login", "customer", key, throttle.LOGIN_ACCOUNT),
        ], now)
        if not term_state.allowed(now):
            raise Throttled(throttle.MSG_TERMINAL_WAIT, fields={"identifier": throttle.MSG_TERMINAL_WAIT},
                            params={"seconds": max(term_state.wait_seconds(now), 1)})
        customer = db.scalars(select(Customer).where(Customer.number == num)).first()
        usable = customer is not None and customer.merged_into_id is None
        stored = customer.password_hash if usable and customer is not None else None
        ok = backend.hasher.verify(stored, accounts.prepare_password(password))
        cid = customer.id if customer is not None else None
        if state.frozen or not state.allowed(now):
            audit.record(db, "customer_login", outcome="throttled", customer_id=cid,
                         terminal_id=caller.terminal_id, now=now)
            if state.frozen:
                _raise_after_commit(db, failed)
            _raise_after_commit(db, Throttled(
                throttle.MSG_WAIT, fields={"identifier": throttle.MSG_WAIT},
                params={"seconds": max(state.wait_seconds(now), 1)}))
        if not ok or customer is None:
            status = throttle.fail(db, "login", "customer", key, throttle.LOGIN_ACCOUNT, now)
            throttle.fail(db, "login", "terminal", terminal, throttle.LOGIN_TERMINAL, now)
            audit.record(db, "customer_login", outcome="failed", customer_id=cid,
                         terminal_id=caller.terminal_id, failures=status.failures, now=now)
            _raise_after_commit(db, failed)
        if state.failures:
            throttle.reset(db, "login", "customer", key)
        if backend.hasher.needs_rehash(customer.password_hash or ""):
            customer.password_hash = backend.hasher.hash(accounts.prepare_password(password))
        token = sessions.create_for_customer(db, backend, customer, caller.terminal_id)
        audit.record(db, "customer_login", customer_id=customer.id,
                     terminal_id=caller.terminal_id, number=customer.number, now=now)
        return CustomerLoginResult(token=token, customer_id=customer.id,
                                   number=customer.number,
                                   display_name=sessions.customer_display_name(customer))


@text_input()
def login_any(backend: Backend, identifier: str, password: str, caller: Caller
              ) -> accounts.LoginResult | CustomerLoginResult:
    """The login screen's entry: customer numbers here, usernames and e-mails to accounts."""
    if looks_like_customer_number(identifier) and not _is_username(backend, identifier):
        return login(backend, identifier, password, caller)
    return accounts.login(backend, identifier, password, caller)


def _is_username(backend: Backend, identifier: str) -> bool:
    with backend.transaction() as db:
        return db.scalar(select(Account.id).where(
            Account.username_key == username_key(identifier))) is not None


@text_input()
def reauthenticate(backend: Backend, token: str | None, password: str
                   ) -> sessions.CustomerSessionInfo:
    """The customer password again in a customer-number session (per-number counters)."""
    with backend.transaction() as db:
        row, customer = sessions.live_customer(db, backend, token)
        now = backend.now()
        key = f"c{customer.number}"
        state = throttle.check(db, "login", "customer", key, throttle.LOGIN_ACCOUNT, now)
        ok = backend.hasher.verify(customer.password_hash,
                                   accounts.prepare_password(password or ""))
        if not state.allowed(now):
            raise Throttled(throttle.MSG_WAIT, fields={"password": throttle.MSG_WAIT},
                            params={"seconds": max(state.wait_seconds(now), 1)})
        if not ok:
            throttle.fail(db, "login", "customer", key, throttle.LOGIN_ACCOUNT, now)
            audit.record(db, "reauth", outcome="failed", customer_id=customer.id,
                         terminal_id=row.terminal_id, now=now)
            _raise_after_commit(db, AuthFailed(sessions.MSG_WRONG_PASSWORD,
                                               fields={"password": sessions.MSG_WRONG_PASSWORD}))
        throttle.reset(db, "login", "customer", key)
        row.reauth_at = now
        audit.record(db, "reauth", customer_id=customer.id, terminal_id=row.terminal_id,
                     now=now)
        return sessions.customer_info(row, customer)


__all__ = ["CustomerLoginResult", "login", "login_any", "looks_like_customer_number",
           "reauthenticate"]
