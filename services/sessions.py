"""Server-side sessions with idle and absolute timeouts and re-authentication.

The terminal holds a 128-bit (here 192-bit) random token from ``services.crypto.new_token``;
the database keeps only its keyed digest (purpose ``"session"``). Customers get the kiosk
timeouts (``idle_timeout_kiosk``, ``session_absolute_kiosk``), agents and supervisors the desk
ones (``session_idle_agent``, ``session_absolute_agent``). Sensitive actions call
``require_recent_auth``; ``reauthenticate`` (the password again) makes it pass for
``reauth_valid`` seconds.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from db.models import Account, AccountDeletion, Customer, Session
from services import audit, throttle
from services.crypto import new_token
from services.errors import N_, AuthFailed, DomainError, Throttled
from services.i18n import format_date
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

AGENT_KINDS = ("agent", "supervisor")
MSG_EXPIRED = N_("Your session has ended. Please log in again.")
MSG_REAUTH = N_("Please enter your password again to continue.")
MSG_WRONG_PASSWORD = N_("The password is not correct.")


class SessionExpired(DomainError):
    """No valid session (unknown token, logged out, idle or absolute timeout)."""

    code = "session_expired"


class DeletionPending(DomainError):
    """A login of an account waiting for its deletion (#16) proved itself: the right password
    (or, with a second factor, the password and then the code). The screen offers to cancel
    the deletion (``services.privacy.cancel_deletion_login``, or with a second factor
    ``cancel_deletion_after_code`` on the code step's session); ``params["date"]``."""

    code = "deletion_pending"


MSG_DELETION_PENDING = N_("Your account is scheduled for deletion on {date}. Do you want to "
                          "cancel the deletion and keep your account?")


def deletion_pending(db: DbSession, account_id: int, language: str) -> DeletionPending:
    """The error for an account waiting for its deletion, with the day of the erasure."""
    erase_after = db.scalar(select(AccountDeletion.erase_after).where(
        AccountDeletion.account_id == account_id, AccountDeletion.state == "scheduled"))
    date = format_date(erase_after.date(), language) if erase_after else ""
    return DeletionPending(MSG_DELETION_PENDING, params={"date": date})


class ReauthRequired(DomainError):
    """A sensitive action needs the password again (``reauthenticate``)."""

    code = "reauth_required"


class SessionInfo(BaseModel):
    account_id: int
    kind: str
    display_name: str
    username: str | None
    email: str | None
    language: str
    terminal_id: str | None
    created_at: dt.datetime
    last_seen_at: dt.datetime
    idle_expires_at: dt.datetime
    absolute_expires_at: dt.datetime
    reauth_at: dt.datetime | None


def display_name(account: Account) -> str:
    name = " ".join(p for p in (account.first_name, account.last_name) if p)
    return name or account.username or account.email or ""


def digest(backend: Backend, token: str) -> str:
    return backend.digester.digest("session", token)


def timeouts(backend: Backend, kind: str) -> tuple[int, int]:
    """(idle seconds, absolute seconds) for an account kind."""
    s = backend.settings
    if kind in AGENT_KINDS:
        return s.session_idle_agent, s.session_absolute_agent
    return s.idle_timeout_kiosk, s.session_absolute_kiosk


def create(db: DbSession, backend: Backend, account: Account, terminal_id: str | None,
           *, idle_timeout: int | None = None, second_factor: str | None = None) -> str:
    """Open a session inside the caller's transaction; returns the token (shown once).
    With ``second_factor`` it waits for that step (services.second_factor)."""
    now = backend.now()
    idle, absolute = timeouts(backend, account.kind)
    token = new_token()
    db.add(Session(
        token_digest=digest(backend, token), account_id=account.id, terminal_id=terminal_id,
        created_at=now, last_seen_at=now, idle_timeout_s=idle_timeout or idle,
        absolute_expires_at=now + dt.timedelta(seconds=absolute),
        # The password was just entered: it counts for the next 5 minutes of sensitive actions.
        reauth_at=now, second_factor=second_factor,
    ))
    return token


def open_session(backend: Backend, account_id: int, *, terminal_id: str | None = None,
                 idle_timeout: int | None = None) -> str:
    """Open a session for an account (login does this itself); returns the token."""
    with backend.transaction() as db:
        account = db.get(Account, account_id)
        if account is None:
            raise SessionExpired(MSG_EXPIRED)
        return create(db, backend, account, terminal_id, idle_timeout=idle_timeout)


def info(row: Session, account: Account) -> SessionInfo:
    """The public view of a session row and its account."""
    return SessionInfo(
        account_id=account.id, kind=account.kind, display_name=display_name(account),
        username=account.username, email=account.email, language=account.language,
        terminal_id=row.terminal_id, created_at=row.created_at, last_seen_at=row.last_seen_at,
        idle_expires_at=row.last_seen_at + dt.timedelta(seconds=row.idle_timeout_s),
        absolute_expires_at=row.absolute_expires_at, reauth_at=row.reauth_at,
    )


def _timed_out(row: Session, now: dt.datetime) -> str | None:
    """"absolute" or "idle" when the session's time is over, else None."""
    if now >= row.absolute_expires_at:
        return "absolute"
    if now >= row.last_seen_at + dt.timedelta(seconds=row.idle_timeout_s):
        return "idle"
    return None


def _end_row(db: DbSession, row: Session, reason: str, now: dt.datetime) -> None:
    row.ended_at = now
    row.ended_reason = reason
    audit.record(db, "session_end", actor_id=row.account_id, customer_id=row.customer_id,
                 terminal_id=row.terminal_id, reason=reason, now=now)


def _load(db: DbSession, backend: Backend, token: str | None) -> tuple[Session, Account] | str:
    """The live session row and account, or the reason it is gone (row ended if needed)."""
    if not token:
        return "missing"
    # session and account in one round trip (this runs at the start of every action)
    found = db.execute(
        select(Session, Account)
        .outerjoin(Account, Account.id == Session.account_id)
        .where(Session.token_digest == digest(backend, token))
    ).first()
    if found is None:
        return "missing"
    row, account = found
    if row.ended_at is not None or row.account_id is None or row.second_factor:
        return "missing"  # a login waiting for its second factor serves nothing yet
    now = backend.now()
    gone = ("locked", "disabled", "deletion_pending", "deleted")
    reason = "account" if account is None or account.status in gone else _timed_out(row, now)
    if reason:
        _end_row(db, row, reason, now)
        return reason
    assert account is not None
    return row, account


def live(db: DbSession, backend: Backend, token: str | None) -> tuple[Session, Account]:
    """Inside a transaction: the live session or SessionExpired (the end is committed)."""
    loaded = _load(db, backend, token)
    if isinstance(loaded, str):
        # commit the end of the session before raising (the raise would roll it back)
        db.commit()
        raise SessionExpired(MSG_EXPIRED, params={"reason": loaded})
    row, account = loaded
    row.last_seen_at = backend.now()
    return row, account


def current(backend: Backend, token: str | None) -> SessionInfo:
    """The session behind ``token``; touches last_seen. Raises SessionExpired."""
    with backend.transaction() as db:
        row, account = live(db, backend, token)
        return info(row, account)


def end(backend: Backend, token: str | None, reason: str = "logout") -> None:
    """End the session (logout, UI wipe). Unknown or ended tokens are ignored."""
    if not token:
        return
    now = backend.now()
    with backend.transaction() as db:
        row = db.scalars(
            select(Session).where(Session.token_digest == digest(backend, token))
        ).first()
        if row is None or row.ended_at is not None:
            return
        row.ended_at = now
        row.ended_reason = reason[:32]
        audit.record(db, "session_end", actor_id=row.account_id, terminal_id=row.terminal_id,
                     reason=reason[:32], now=now)


def end_all(db: DbSession, account_id: int, reason: str, now: dt.datetime,
            *, except_digest: str | None = None) -> int:
    query = (
        update(Session)
        .where(Session.account_id == account_id, Session.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason[:32])
    )
    if except_digest:
        query = query.where(Session.token_digest != except_digest)
    return db.execute(query).rowcount or 0


def end_all_for_account(backend: Backend, account_id: int, reason: str = "ended") -> int:
    """End every open session of an account (password reset, lock, agent action)."""
    with backend.transaction() as db:
        count = end_all(db, account_id, reason, backend.now())
        if count:
            audit.record(db, "sessions_ended", actor_id=account_id, reason=reason[:32],
                         count=count, now=backend.now())
        return count


def check_password_throttled(db: DbSession, backend: Backend, account: Account, password: str,
                             terminal_id: str | None, *, field: str) -> None:
    """Verify the account's password (one argon2 run) with the per-account login counters.

    The attempt is reserved on the counter before the password is checked
    (``throttle.reserve``), here in the caller's transaction: a re-entry belongs to a live
    session, so the lock on that one account's counter during argon2 is acceptable. A correct
    password during a wait is still refused. Failures are committed before raising.
    """
    now = backend.now()
    limits = [throttle.Limit("login", "account", f"a{account.id}", throttle.LOGIN_ACCOUNT,
                             on_success="reset")]
    reservation = throttle.reserve(db, limits, now)
    if not reservation.granted:
        raise Throttled(throttle.MSG_WAIT, fields={field: throttle.MSG_WAIT},
                        params={"seconds": reservation.wait_seconds(now)})
    ok = backend.hasher.verify(account.password_hash,
                               unicodedata.normalize("NFKC", password or ""))
    if not ok:
        status = reservation.status("account")
        audit.record(db, "reauth", outcome="failed", actor_id=account.id,
                     terminal_id=terminal_id, now=now)
        if status.frozen and account.status != "locked":
            account.status = "locked"
            audit.record(db, "account_locked", actor_id=account.id, terminal_id=terminal_id,
                         now=now)
        db.commit()
        raise AuthFailed(MSG_WRONG_PASSWORD, fields={field: MSG_WRONG_PASSWORD})
    throttle.succeeded(db, limits, now)


@text_input()
def reauthenticate(backend: Backend, token: str | None, password: str) -> SessionInfo:
    """The password again: sensitive actions are allowed for ``reauth_valid`` seconds."""
    with backend.transaction() as db:
        row, account = live(db, backend, token)
        check_password_throttled(db, backend, account, password, row.terminal_id,
                                 field="password")
        row.reauth_at = backend.now()
        audit.record(db, "reauth", actor_id=account.id, terminal_id=row.terminal_id,
                     now=backend.now())
        return info(row, account)


def live_recent(db: DbSession, backend: Backend, token: str | None
                ) -> tuple[Session, Account]:
    """Inside a transaction: the live session whose password was entered within
    ``reauth_valid`` seconds, else ReauthRequired (or SessionExpired)."""
    row, account = live(db, backend, token)
    _require_recent(db, backend, row)
    return row, account


def _require_recent(db: DbSession, backend: Backend, row: Session) -> None:
    """ReauthRequired (the session's touch committed) unless the password was entered within
    ``reauth_valid`` seconds; for account and customer-number sessions alike."""
    valid = dt.timedelta(seconds=backend.settings.reauth_valid)
    if row.reauth_at is None or backend.now() - row.reauth_at > valid:
        db.commit()
        raise ReauthRequired(MSG_REAUTH, fields={"password": MSG_REAUTH})


def require_recent_auth(backend: Backend, token: str | None) -> SessionInfo:
    """Raise ReauthRequired unless the password was entered within ``reauth_valid``."""
    with backend.transaction() as db:
        return info(*live_recent(db, backend, token))


# --------------------------------------------------------------------------- customer sessions
# A contract partner without a portal account logs in with a customer number and that number's
# customer password (services.customer_login). Such a session has ``customer_id`` set and
# ``account_id`` NULL; the functions above treat it as missing, these below serve it.


class CustomerSessionInfo(BaseModel):
    """The public view of a session opened with a customer number (no portal account)."""

    customer_id: int
    number: str
    display_name: str
    terminal_id: str | None
    reauth_at: dt.datetime | None


def customer_display_name(customer: Customer) -> str:
    person = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return customer.company or person or customer.number


def create_for_customer(db: DbSession, backend: Backend, customer: Customer,
                        terminal_id: str | None, *, idle_timeout: int | None = None) -> str:
    """Open a customer-number session (kiosk timeouts) in the caller's transaction."""
    now = backend.now()
    idle, absolute = timeouts(backend, "customer")
    token = new_token()
    db.add(Session(
        token_digest=digest(backend, token), account_id=None, customer_id=customer.id,
        terminal_id=terminal_id, created_at=now, last_seen_at=now,
        idle_timeout_s=idle_timeout or idle,
        absolute_expires_at=now + dt.timedelta(seconds=absolute), reauth_at=now,
    ))
    return token


def live_customer(db: DbSession, backend: Backend, token: str | None
                  ) -> tuple[Session, Customer]:
    """Inside a transaction: the live customer-number session or SessionExpired.

    A session whose number was merged meanwhile ends (``merged``); the end is committed.
    """
    row = None
    if token:
        row = db.scalars(select(Session).where(
            Session.token_digest == digest(backend, token))).first()
    if row is None or row.ended_at is not None or row.account_id is not None \
            or row.customer_id is None:
        raise SessionExpired(MSG_EXPIRED, params={"reason": "missing"})
    now = backend.now()
    customer = db.get(Customer, row.customer_id)
    reason = "merged" if customer is None or customer.merged_into_id is not None \
        else _timed_out(row, now)
    if reason:
        _end_row(db, row, reason, now)
        db.commit()
        raise SessionExpired(MSG_EXPIRED, params={"reason": reason})
    assert customer is not None
    row.last_seen_at = now
    return row, customer


def customer_info(row: Session, customer: Customer) -> CustomerSessionInfo:
    return CustomerSessionInfo(customer_id=customer.id, number=customer.number,
                               display_name=customer_display_name(customer),
                               terminal_id=row.terminal_id, reauth_at=row.reauth_at)


def is_customer_session(backend: Backend, token: str | None) -> bool:
    """True when ``token`` is a live session opened with a customer number."""
    if not token:
        return False
    with backend.transaction() as db:
        row = db.scalars(select(Session).where(
            Session.token_digest == digest(backend, token))).first()
        return (row is not None and row.ended_at is None and row.account_id is None
                and row.customer_id is not None)


def current_customer(backend: Backend, token: str | None) -> CustomerSessionInfo:
    """The customer-number session behind ``token``; touches last_seen."""
    with backend.transaction() as db:
        return customer_info(*live_customer(db, backend, token))


def live_recent_customer(db: DbSession, backend: Backend, token: str | None
                         ) -> tuple[Session, Customer]:
    """``live_customer`` whose password was entered within ``reauth_valid`` seconds."""
    row, customer = live_customer(db, backend, token)
    _require_recent(db, backend, row)
    return row, customer


__all__ = [
    "CustomerSessionInfo",
    "ReauthRequired",
    "SessionExpired",
    "SessionInfo",
    "current",
    "current_customer",
    "is_customer_session",
    "live_customer",
    "end",
    "end_all_for_account",
    "open_session",
    "reauthenticate",
    "require_recent_auth",
]
