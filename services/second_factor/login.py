"""The login's second step (#15): a pending session waits for the code (or a recovery code).

``accounts.login`` / ``login_agent`` check the password as before and ask ``login_step``:
with a confirmed factor the session is opened *pending* (``Session.second_factor`` ``"code"``,
or ``"enrol"`` for an agent without one yet) and serves nothing (``sessions.live`` treats it
as missing) until ``complete_login`` clears the mark. A wrong password at the agent login —
and for a customer who has a second factor — also leads to the code step (``wants_decoy``,
``open_decoy``: a ``"decoy"`` session that no code opens), so the password step does not tell
whether the password was right; the code step then answers with one neutral message.

Wrong codes count in the login throttle (``("login", "account", "a<id>")`` and the
terminal's counter, reserved before the code is looked at); a correct password does not reset
the account's counter while the code is still missing. A pending login is valid for
``PENDING_VALID``; after that the password is asked again.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel
from sqlalchemy import String, and_, bindparam, cast, literal, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from db.engine import for_update
from db.models import Account, SecondFactor, Session, Throttle
from services import audit, sessions, throttle
from services.errors import N_, AuthFailed, Throttled, ValidationFailed
from services.second_factor.factor import (
    CODE,
    DECOY,
    DELETION,
    ENROL,
    PENDING_VALID,
    check_sealed,
    check_totp,
    clean_code,
    has_factor,
    is_mandatory,
)
from services.second_factor.recovery import recovery_left, use_recovery

if TYPE_CHECKING:
    from services.backend import Backend
    from services.caller import Caller

MSG_CODE_FAILED = N_("The password or the code is not correct, or the account is locked. "
                     "Please log in again if it keeps failing.")
MSG_CODE_FORMAT = N_("Please enter the 6-digit code from your authenticator app.")
MSG_RECOVERY_FORMAT = N_("Please enter one of your recovery codes (10 characters).")
MSG_RECOVERY_LEFT = N_("You logged in with a recovery code. {left} recovery codes are left.")
MSG_RECOVERY_LOW = N_("You logged in with a recovery code. Only {left} recovery codes are "
                      "left: please create new ones in your settings.")
MSG_RECOVERY_LOW_DESK = N_("You logged in with a recovery code. Only {left} recovery codes "
                           "are left: please create new ones (command palette, Ctrl+P).")


class LoginDone(BaseModel):
    token: str
    account_id: int
    display_name: str
    kind: str
    language: str
    recovery_left: int | None = None
    message: str | None = None
    params: dict[str, int] = {}


_ACCOUNT_COUNTER, _TERMINAL_COUNTER = aliased(Throttle), aliased(Throttle)
_COUNTER_COLUMNS = ("failures", "window_start", "blocked_until", "frozen")
#: The pending session, its account, its confirmed factor and the two login counters
#: (``("login", "account", "a<id>")`` and the terminal's): one round trip, plain columns.
_PENDING = (
    select(Session.id.label("session_id"), Session.ended_at, Session.created_at,
           Session.second_factor.label("step"), Session.account_id,
           Account.status, Account.kind, Account.language, Account.username, Account.email,
           Account.first_name, Account.last_name,
           SecondFactor.id.label("factor_id"), SecondFactor.secret_sealed,
           *(getattr(_ACCOUNT_COUNTER, c).label(f"a_{c}") for c in _COUNTER_COLUMNS),
           *(getattr(_TERMINAL_COUNTER, c).label(f"t_{c}") for c in _COUNTER_COLUMNS))
    .outerjoin(Account, Account.id == Session.account_id)
    .outerjoin(SecondFactor, (SecondFactor.account_id == Session.account_id)
               & SecondFactor.confirmed_at.is_not(None))
    .outerjoin(_ACCOUNT_COUNTER, and_(
        _ACCOUNT_COUNTER.action == "login", _ACCOUNT_COUNTER.scope == "account",
        _ACCOUNT_COUNTER.key == literal("a") + cast(Session.account_id, String)))
    .outerjoin(_TERMINAL_COUNTER, and_(
        _TERMINAL_COUNTER.action == "login", _TERMINAL_COUNTER.scope == "terminal",
        _TERMINAL_COUNTER.key == bindparam("terminal")))
    .where(Session.token_digest == bindparam("digest"))
)
_FINISH = update(Session).where(Session.id == bindparam("session_id")).values(
    second_factor=None, reauth_at=bindparam("now"), last_seen_at=bindparam("now"))


def login_step(db: DbSession, account: Account) -> str | None:
    """After a correct password: ``"code"``, ``"enrol"`` (agents without one) or None."""
    if has_factor(db, account.id):
        return CODE
    return ENROL if is_mandatory(account) else None


def wants_decoy(db: DbSession, account: Account | None, agent_login: bool) -> bool:
    """After a wrong password: whether the login still goes on to the code step."""
    return agent_login or (account is not None and has_factor(db, account.id))


def open_decoy(db: DbSession, backend: Backend, account: Account | None,
               terminal_id: str | None) -> str:
    """A pending session that no code completes (the wrong password is already counted)."""
    from services.crypto import new_token

    now = backend.now()
    token = new_token()
    db.add(Session(token_digest=sessions.digest(backend, token), account_id=None,
                   terminal_id=terminal_id, created_at=now, last_seen_at=now,
                   idle_timeout_s=int(PENDING_VALID.total_seconds()),
                   absolute_expires_at=now + PENDING_VALID, reauth_at=None,
                   second_factor=DECOY,
                   ended_at=None))
    return token


class _Counter(NamedTuple):
    failures: int
    window_start: dt.datetime
    blocked_until: dt.datetime | None
    frozen: bool


def _counter(found: Any, prefix: str, policy: throttle.Policy, now: dt.datetime
             ) -> throttle.Status:
    values = [getattr(found, f"{prefix}_{c}") for c in _COUNTER_COLUMNS]
    return throttle.status_of(None if values[0] is None else _Counter(*values), policy, now)


def _expired_unless(ok: bool, reason: str) -> None:
    if not ok:
        raise sessions.SessionExpired(sessions.MSG_EXPIRED, params={"reason": reason})


def _pending_login(db: DbSession, backend: Backend, token: str | None, terminal: str
                   ) -> Any:
    """The row of ``_PENDING`` for a login waiting for its code, else SessionExpired."""
    found = None
    if token:
        found = db.connection().execute(_PENDING, {"digest": sessions.digest(backend, token),
                                                   "terminal": terminal[:128]}).first()
    _expired_unless(found is not None and found.ended_at is None
                    and found.step in (CODE, DECOY)
                    and backend.now() < found.created_at + PENDING_VALID, "missing")
    _expired_unless(found.step == DECOY or (found.status is not None and found.status
                                            not in ("locked", "disabled")), "account")
    return found


def pending_step(db: DbSession, backend: Backend, token: str | None, step: str, *,
                 lock: bool = False) -> tuple[Session, Account]:
    """The session of ``token`` waiting in ``step`` (``ENROL``, ``DELETION``) for at most
    ``PENDING_VALID``, and its account (not locked or disabled); else SessionExpired.
    ``lock``: the session row is locked, so that the step is taken once."""
    query = select(Session).where(Session.token_digest == sessions.digest(backend, token or ""))
    row = db.scalars(for_update(query, db) if lock else query).first()
    _expired_unless(row is not None and row.ended_at is None and row.second_factor == step
                    and backend.now() < row.created_at + PENDING_VALID, "missing")
    assert row is not None
    account = db.get(Account, row.account_id)
    _expired_unless(account is not None and account.status not in ("locked", "disabled"),
                    "account")
    assert account is not None
    return row, account


def finish_login(row: Session, now: dt.datetime) -> None:
    row.second_factor = None
    row.reauth_at = now
    row.last_seen_at = now


def complete_login(backend: Backend, token: str | None, code: str, caller: Caller, *,
                   recovery: bool = False) -> LoginDone:
    """The login's second step: the current code (or a recovery code) for a pending session.

    A wrong code counts like a wrong password and gets the neutral ``MSG_CODE_FAILED``; so
    does every code for a decoy session. Raises SessionExpired when the pending login is
    older than ``PENDING_VALID`` (the password is asked again).
    """
    field = "code"
    if not clean_code(code):
        raise ValidationFailed(MSG_RECOVERY_FORMAT if recovery else MSG_CODE_FORMAT,
                               fields={field: MSG_RECOVERY_FORMAT if recovery
                                       else MSG_CODE_FORMAT})
    failed = AuthFailed(MSG_CODE_FAILED, fields={field: MSG_CODE_FAILED})
    now = backend.now()
    terminal = (caller.terminal_id or "unknown")[:128]
    with backend.transaction() as db:
        found = _pending_login(db, backend, token, terminal)
        term_state = _counter(found, "t", throttle.LOGIN_TERMINAL, now)
        if not term_state.allowed(now):
            raise Throttled(throttle.MSG_TERMINAL_WAIT,
                            fields={field: throttle.MSG_TERMINAL_WAIT},
                            params={"seconds": max(term_state.wait_seconds(now), 1)})
        if found.step == DECOY:
            # the wrong password was counted at the password step
            audit.record(db, "login_second_factor", outcome="failed",
                         terminal_id=caller.terminal_id, now=now)
            db.commit()
            raise failed
        account_id, key = found.account_id, f"a{found.account_id}"
        if found.factor_id is None:  # reset meanwhile
            db.execute(update(Session).where(Session.id == found.session_id).values(
                ended_at=now, ended_reason="second_factor_reset"))
            db.commit()
            raise sessions.SessionExpired(sessions.MSG_EXPIRED, params={"reason": "reset"})
        # The attempt is reserved on both login counters before the code is looked at (the
        # throttle's reservation, as for the password): parallel codes for one pending login
        # get no more checks than the limit. The rows stay locked for this short transaction
        # (a TOTP or recovery-code check, no argon2).
        limits = throttle.login_limits(terminal, key)
        reservation = throttle.reserve(db, limits, now)
        if reservation.refused_by("terminal"):
            db.commit()
            raise Throttled(throttle.MSG_TERMINAL_WAIT,
                            fields={field: throttle.MSG_TERMINAL_WAIT},
                            params={"seconds": max(reservation.wait_seconds(now), 1)})
        if not reservation.granted:
            db.commit()
            if reservation.status("account").frozen:
                raise failed
            raise Throttled(throttle.MSG_WAIT, fields={field: throttle.MSG_WAIT},
                            params={"seconds": reservation.wait_seconds(now)})
        if recovery:
            ok = use_recovery(db, backend, account_id, code)
        else:
            ok = check_sealed(db, backend, found.factor_id, account_id, found.secret_sealed,
                               code)
        if not ok:
            account = db.get(Account, account_id)
            assert account is not None
            status = reservation.status("account")
            audit.record(db, "login_second_factor", outcome="failed", actor_id=account.id,
                         terminal_id=caller.terminal_id, failures=status.failures,
                         method="recovery" if recovery else "totp", now=now)
            if status.frozen and account.status != "locked":
                account.status = "locked"
                audit.record(db, "account_locked", actor_id=account.id,
                             terminal_id=caller.terminal_id, failures=status.failures, now=now)
                sessions.end_all(db, account.id, "locked", now)
            db.commit()
            raise failed
        throttle.succeeded(db, limits, now)
        if found.status == "deletion_pending":  # #16: the person is proven; offer to cancel
            db.execute(update(Session).where(Session.id == found.session_id).values(
                second_factor=DELETION))
            audit.record(db, "login_second_factor", outcome="deletion_pending",
                         actor_id=account_id, terminal_id=caller.terminal_id,
                         method="recovery" if recovery else "totp", now=now)
            error = sessions.deletion_pending(db, account_id, caller.language)
            db.commit()
            raise error
        db.connection().execute(_FINISH, {"session_id": found.session_id, "now": now})
        left = None
        message = None
        if recovery:
            left = recovery_left(db, account_id)
            low = MSG_RECOVERY_LOW_DESK if is_mandatory(found) else MSG_RECOVERY_LOW
            message = low if left <= 3 else MSG_RECOVERY_LEFT
            audit.record(db, "recovery_code_used", actor_id=account_id,
                         terminal_id=caller.terminal_id, left=left, now=now)
        audit.record(db, "login_second_factor", actor_id=account_id,
                     terminal_id=caller.terminal_id,
                     method="recovery" if recovery else "totp", now=now)
        return LoginDone(token=token or "", account_id=account_id,
                         display_name=sessions.display_name(found), kind=found.kind,
                         language=found.language, recovery_left=left, message=message,
                         params={"left": left} if left is not None else {})


def check_password_and_code(db: DbSession, backend: Backend, account: Account,
                            factor: SecondFactor, password: str, code: str,
                            terminal_id: str | None, *, event: str) -> None:
    """The password and a second-factor code (from the app, or a recovery code) as one
    attempt on the login's two counters: reserved before either is looked at and given back
    only when both are right, so a known password gives no free guesses at the code (a
    right password must not reset the account's counter before the code is checked). A
    wrong one of the two says the same sentence, beside the code. For the actions that need
    both at once (cancelling a deletion at login, turning the factor off); ``event`` names
    the action in the audit log."""
    now = backend.now()
    if not clean_code(code):
        raise ValidationFailed(MSG_CODE_FORMAT, fields={"code": MSG_CODE_FORMAT})
    limits = throttle.login_limits((terminal_id or "unknown")[:128], f"a{account.id}")
    reservation = throttle.reserve(db, limits, now)
    if not reservation.granted:
        db.commit()
        message = (throttle.MSG_TERMINAL_WAIT if reservation.refused_by("terminal")
                   else throttle.MSG_WAIT)
        raise Throttled(message, fields={"code": message},
                        params={"seconds": max(reservation.wait_seconds(now), 1)})
    right = backend.hasher.verify(account.password_hash or "",
                                  unicodedata.normalize("NFKC", password or ""))
    if right:
        right = (check_totp(db, backend, factor, code) if clean_code(code).isdigit()
                 else use_recovery(db, backend, account.id, code))
    if not right:
        audit.record(db, "login_second_factor", outcome="failed", actor_id=account.id,
                     terminal_id=terminal_id, method=event, now=now)
        db.commit()
        raise AuthFailed(MSG_CODE_FAILED, fields={"code": MSG_CODE_FAILED})
    throttle.succeeded(db, limits, now)
