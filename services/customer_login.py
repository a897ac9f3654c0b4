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

``login_any`` routes an identifier by its form alone: a customer number (a digit first, then
digits, ``-``, ``/`` or ``.``) goes here, everything else to ``accounts.login``. Usernames of
that form are refused at registration (``accounts.MSG_USERNAME_NUMBER``), so no account can
take a customer's login away, and no lookup tells which usernames exist.

The attempt is reserved before the password is checked (``throttle.reserve``, see there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Customer
from services import accounts, audit, sessions, throttle
from services.caller import Caller
from services.errors import N_, AuthFailed, DomainError, Throttled, ValidationFailed
from services.normalize import customer_number as norm_number
from services.normalize import looks_like_customer_number, text_input
from services.passwords import MAX_LENGTH, length

if TYPE_CHECKING:
    from services.backend import Backend

MSG_REQUIRED = N_("This field must not be empty.")
MSG_FAILED = N_("The customer number or the customer password is not correct, or the "
                "customer number cannot be used to log in.")


class CustomerLoginResult(BaseModel):
    token: str
    customer_id: int
    number: str
    display_name: str


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
    with backend.transaction() as db:  # 1. the record (reads only)
        customer = db.scalars(select(Customer).where(Customer.number == num)).first()
        cid = customer.id if customer is not None else None
        usable = customer is not None and customer.merged_into_id is None
        stored = customer.password_hash if usable and customer is not None else None
    limits = accounts.login_limits(terminal, key, scope="customer")
    with backend.transaction() as db:  # 2. the attempt reserved and committed (throttle doc)
        reservation = throttle.reserve(db, limits, now)
        if reservation.refused_by("terminal"):
            _raise_after_commit(db, Throttled(
                throttle.MSG_TERMINAL_WAIT, fields={"identifier": throttle.MSG_TERMINAL_WAIT},
                params={"seconds": reservation.wait_seconds(now)}))
        if not reservation.granted:
            audit.record(db, "customer_login", outcome="throttled", customer_id=cid,
                         terminal_id=caller.terminal_id, now=now)
            if not reservation.status("customer").frozen:
                _raise_after_commit(db, Throttled(
                    throttle.MSG_WAIT, fields={"identifier": throttle.MSG_WAIT},
                    params={"seconds": reservation.wait_seconds(now)}))
    if not reservation.granted:  # frozen: the same argon2 work and answer as a wrong password
        backend.hasher.verify(None, accounts.prepare_password(password))
        raise failed
    ok = backend.hasher.verify(stored, accounts.prepare_password(password))  # 3. the check
    with backend.transaction() as db:  # 4. the outcome
        customer = db.get(Customer, cid) if ok and cid is not None else None
        if customer is None or customer.merged_into_id is not None:
            audit.record(db, "customer_login", outcome="failed", customer_id=cid,
                         terminal_id=caller.terminal_id,
                         failures=reservation.status("customer").failures, now=now)
            _raise_after_commit(db, failed)
        assert customer is not None
        throttle.succeeded(db, limits, now)
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
    """The login screen's entry, decided by the identifier's form alone (never by a lookup,
    which would tell which usernames exist): customer numbers here, usernames and e-mails to
    accounts. Registration refuses usernames of the customer-number form."""
    if looks_like_customer_number(identifier):
        return login(backend, identifier, password, caller)
    return accounts.login(backend, identifier, password, caller)


@text_input()
def reauthenticate(backend: Backend, token: str | None, password: str
                   ) -> sessions.CustomerSessionInfo:
    """The customer password again in a customer-number session (per-number counters)."""
    with backend.transaction() as db:
        row, customer = sessions.live_customer(db, backend, token)
        now = backend.now()
        limits = [throttle.Limit("login", "customer", f"c{customer.number}",
                                 throttle.LOGIN_ACCOUNT, on_success="reset")]
        reservation = throttle.reserve(db, limits, now)  # before the check (throttle doc)
        if not reservation.granted:
            raise Throttled(throttle.MSG_WAIT, fields={"password": throttle.MSG_WAIT},
                            params={"seconds": reservation.wait_seconds(now)})
        ok = backend.hasher.verify(customer.password_hash,
                                   accounts.prepare_password(password or ""))
        if not ok:
            audit.record(db, "reauth", outcome="failed", customer_id=customer.id,
                         terminal_id=row.terminal_id, now=now)
            _raise_after_commit(db, AuthFailed(sessions.MSG_WRONG_PASSWORD,
                                               fields={"password": sessions.MSG_WRONG_PASSWORD}))
        throttle.succeeded(db, limits, now)
        row.reauth_at = now
        audit.record(db, "reauth", customer_id=customer.id, terminal_id=row.terminal_id,
                     now=now)
        return sessions.customer_info(row, customer)


__all__ = ["CustomerLoginResult", "login", "login_any", "looks_like_customer_number",
           "reauthenticate"]
