"""Login with username or e-mail and password: customers (``login``) and the service desk
(``login_agent``), and ``logout``. A customer number as identifier goes through
``services.customer_login`` instead.

Security properties (issue 3): the attempt is reserved before the password is checked
(``throttle.reserve``); exactly one argon2 verification for an unknown user, a wrong password
and a locked account, and one message for all of them; per-account waits and lockout
(``throttle.LOGIN_ACCOUNT``) plus a per-terminal limit; a correct password during a wait is
refused; parameters are upgraded (rehash) on login. A right password may still lead to the
second step (``services.second_factor``), the code screen of an unconfirmed address
(``EmailNotVerified``) or the offer to cancel a pending deletion (``DeletionPending``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from db.models import Account
from services import audit, second_factor, sessions, throttle
from services.accounts.common import (
    MSG_FORM,
    MSG_REQUIRED,
    _find_account,
    _identifier_key,
    _name,
    prepare_password,
    raise_after_commit,
)
from services.errors import N_, AuthFailed, DomainError, Throttled, ValidationFailed
from services.normalize import nfkc, text_input
from services.passwords import MAX_LENGTH, length

if TYPE_CHECKING:
    from services.backend import Backend, Caller


MSG_LOGIN_FAILED = N_(
    "The username, e-mail address or password is not correct, or the account is locked. "
    "If you have forgotten your password, you can reset it."
)
MSG_NOT_VERIFIED = N_("Your e-mail address is not confirmed yet. Please enter the code from our e-mail.")


#: #16: the login of an account waiting for its deletion (kept here for its callers)
DeletionPending = sessions.DeletionPending
MSG_DELETION_PENDING = sessions.MSG_DELETION_PENDING


class EmailNotVerified(DomainError):
    """Correct password, but the e-mail is not confirmed: the UI opens the code screen."""

    code = "email_not_verified"


class LoginResult(BaseModel):
    token: str
    account_id: int
    display_name: str
    kind: str
    language: str
    #: #15: "code" or "enrol" when the session waits for its second step (then the other
    #: fields are blank, whether the password was right or not): services.second_factor
    second_factor: str | None = None


@text_input()
def login(backend: Backend, identifier: str, password: str, caller: Caller) -> LoginResult:
    """Customer login with username or e-mail (case-insensitive, NFKC)."""
    return _login(backend, identifier, password, caller, ("customer",))


@text_input()
def login_agent(backend: Backend, identifier: str, password: str, caller: Caller) -> LoginResult:
    """Service-desk login (Account.kind agent or supervisor); customers cannot use it."""
    return _login(backend, identifier, password, caller, sessions.AGENT_KINDS)


def _login(backend: Backend, identifier: str, password: str, caller: Caller,
           kinds: tuple[str, ...]) -> LoginResult:
    fields = {}
    if not nfkc(identifier or ""):
        fields["identifier"] = MSG_REQUIRED
    if not password:
        fields["password"] = MSG_REQUIRED
    if fields:
        raise ValidationFailed(MSG_FORM, fields=fields)
    if length(password) > MAX_LENGTH:  # refused before hashing, whoever it is
        raise AuthFailed(MSG_LOGIN_FAILED, fields={"password": MSG_LOGIN_FAILED})
    now = backend.now()
    terminal = (caller.terminal_id or "unknown")[:128]
    failed = AuthFailed(MSG_LOGIN_FAILED, fields={"password": MSG_LOGIN_FAILED})
    with backend.transaction() as db:  # 1. who it is (reads only)
        account = _find_account(db, identifier, kinds)
        key = f"a{account.id}" if account is not None else _identifier_key(backend, identifier)
        account_id = account.id if account is not None else None
        usable = (account is not None
                  and account.status in ("active", "unverified", "deletion_pending")
                  and account.password_hash is not None)
        stored = account.password_hash if usable and account is not None else None
    limits = login_limits(terminal, key)
    with backend.transaction() as db:  # 2. the attempt reserved and committed (throttle doc)
        reservation = throttle.reserve(db, limits, now)
        if reservation.refused_by("terminal"):
            raise_after_commit(db, Throttled(
                throttle.MSG_TERMINAL_WAIT, fields={"identifier": throttle.MSG_TERMINAL_WAIT},
                params={"seconds": reservation.wait_seconds(now)}))
        if not reservation.granted:
            frozen = reservation.status("account").frozen
            audit.record(db, "login", outcome="locked" if frozen else "throttled",
                         actor_id=account_id, terminal_id=caller.terminal_id, now=now)
            if not frozen:
                raise_after_commit(db, Throttled(
                    throttle.MSG_WAIT, fields={"identifier": throttle.MSG_WAIT},
                    params={"seconds": reservation.wait_seconds(now)}))
            throttle.fail(db, "login", "terminal", terminal, throttle.LOGIN_TERMINAL, now)
    if not reservation.granted:  # frozen: the same argon2 work and answer as a wrong password
        backend.hasher.verify(None, prepare_password(password))
        raise failed
    # 3. exactly one argon2 verification on every path (a dummy hash without an account)
    ok = backend.hasher.verify(stored, prepare_password(password))
    with backend.transaction() as db:  # 4. the outcome
        account = db.get(Account, account_id) if ok and account_id is not None else None
        if account is None or account.status not in ("active", "unverified",
                                                      "deletion_pending"):
            status = reservation.status("account")
            audit.record(db, "login", outcome="failed", actor_id=account_id,
                         terminal_id=caller.terminal_id, failures=status.failures, now=now)
            locked = db.get(Account, account_id) if account_id is not None else None
            if status.frozen and locked is not None and locked.status != "locked":
                locked.status = "locked"
                locked.locked_until = None
                audit.record(db, "account_locked", actor_id=account_id,
                             terminal_id=caller.terminal_id, failures=status.failures, now=now)
                sessions.end_all(db, locked.id, "locked", now)
            if not status.frozen and second_factor.wants_decoy(
                    db, locked, kinds == sessions.AGENT_KINDS):
                return _pending_login(second_factor.open_decoy(
                    db, backend, locked, caller.terminal_id), second_factor.CODE, caller)
            raise_after_commit(db, failed)
        assert account is not None
        factor = second_factor.login_step(db, account)
        if factor is None:
            throttle.succeeded(db, limits, now)
        else:  # the password was right: its count is given back, but earlier failures stay
            for limit in limits:  # until the code is right (second_factor.complete_login)
                throttle.release(db, limit.action, limit.scope, limit.key, limit.policy, now)
        if backend.hasher.needs_rehash(account.password_hash or ""):
            account.password_hash = backend.hasher.hash(prepare_password(password))
            audit.record(db, "password_upgraded", actor_id=account.id, now=now)
        if account.status == "unverified":
            audit.record(db, "login", outcome="unverified", actor_id=account.id,
                         terminal_id=caller.terminal_id, now=now)
            raise_after_commit(db, EmailNotVerified(
                MSG_NOT_VERIFIED, fields={"code": MSG_NOT_VERIFIED},
                params={"identifier": account.email or account.username or ""}))
        if account.status == "deletion_pending" and factor is None:
            # #16: offer to cancel, no session. With a second factor the code step comes
            # first, as for every login (a wrong password gets the same step, a decoy), and
            # asks after the right code (second_factor.complete_login).
            audit.record(db, "login", outcome="deletion_pending", actor_id=account.id,
                         terminal_id=caller.terminal_id, now=now)
            raise_after_commit(db, sessions.deletion_pending(db, account.id, caller.language))
        account.last_login_at = now
        token = sessions.create(db, backend, account, caller.terminal_id, second_factor=factor)
        audit.record(db, "login", actor_id=account.id, terminal_id=caller.terminal_id,
                     kind=account.kind, outcome=f"needs_{factor}" if factor else "ok", now=now)
        if factor:
            return _pending_login(token, factor, caller)
        return LoginResult(token=token, account_id=account.id, display_name=_name(account),
                           kind=account.kind, language=account.language)


#: The two counters of a login (kept here for the callers that import it from accounts).
login_limits = throttle.login_limits


def _pending_login(token: str, step: str, caller: Caller) -> LoginResult:
    """A login waiting for its second step: nothing about the account in it."""
    return LoginResult(token=token, account_id=0, display_name="", kind="",
                       language=caller.language, second_factor=step)


def logout(backend: Backend, token: str | None) -> None:
    sessions.end(backend, token, "logout")
