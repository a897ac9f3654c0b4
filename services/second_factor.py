"""The second factor (#15): TOTP (RFC 6238, ``pyotp``) and one-time recovery codes.

Agents and supervisors must have one; customers may turn it on in "Meine Einstellungen".

Login in two steps. ``accounts.login`` / ``login_agent`` check the password as before; when
the account needs a second step the session is opened *pending* (``Session.second_factor``
``"code"`` or ``"enrol"``) and serves nothing (``sessions.live`` treats it as missing) until
``complete_login`` (the code or a recovery code) or ``confirm_enrolment`` clears the mark.
A wrong password at the agent login — and for a customer who has a second factor — also
leads to the code step (a ``"decoy"`` session that no code opens), so the password step does
not tell whether the password was right; the code step then answers with one neutral
message. The exception is an agent who has not enrolled yet: enrolment needs the password to
have been right (it happens once, after ``kiosk agent create`` or a reset).

Security rules:
* the secret is sealed with AES-256-GCM under a key derived from the installation secret
  (``services.secretbox``), bound to the account id; it is never logged or audited;
* a code counts in the time step before, at and after now (±30 s) only;
* a time step is used once: ``SecondFactor.last_step`` is raised by one conditional UPDATE
  (``last_step < step``), so two terminals submitting the same code at the same moment get
  one success between them, on SQLite and PostgreSQL;
* wrong codes count in the login throttle (``("login", "account", "a<id>")`` and the
  terminal's counter, ``throttle.LOGIN_ACCOUNT``/``LOGIN_TERMINAL``); a correct password does
  not reset the account's counter while the code is still missing;
* recovery codes (10, shown once) are kept as keyed digests; each works once; using one is
  audited with the number left.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from typing import TYPE_CHECKING, Any, NamedTuple

import pyotp
from pydantic import BaseModel
from sqlalchemy import String, and_, bindparam, cast, delete, func, literal, or_, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from db.models import Account, Membership, RecoveryCode, SecondFactor, Session, Throttle
from services import audit, sessions, throttle
from services.crypto import CODE_ALPHABET, normalize_code
from services.errors import (
    N_,
    AuthFailed,
    Conflict,
    NotAllowed,
    NotFound,
    StorageUnavailable,
    Throttled,
    ValidationFailed,
)
from services.normalize import nfkc, username_key
from services.secretbox import DecryptionFailed, SecretBox

if TYPE_CHECKING:
    from services.backend import Backend
    from services.caller import Caller

ISSUER = "Kundenkiosk"
STEP = 30
DIGITS = 6
WINDOW = 1  # steps before and after now
RECOVERY_COUNT = 10
RECOVERY_LENGTH = 10
PENDING_VALID = dt.timedelta(minutes=10)
KEY_PURPOSE = "totp-seal"

#: Session.second_factor values of a login waiting for its second step.
CODE, ENROL, DECOY = "code", "enrol", "decoy"

MSG_CODE_FAILED = N_("The password or the code is not correct, or the account is locked. "
                     "Please log in again if it keeps failing.")
MSG_CODE_FORMAT = N_("Please enter the 6-digit code from your authenticator app.")
MSG_RECOVERY_FORMAT = N_("Please enter one of your recovery codes (10 characters).")
MSG_ENROL_WRONG = N_("This code is not correct. Please enter the code your app shows now.")
MSG_ALREADY_ON = N_("The second factor is already turned on.")
MSG_NOT_ON = N_("The second factor is not turned on.")
MSG_MANDATORY = N_("Service-desk accounts must keep their second factor.")
MSG_NOT_AGENT = N_("This service-desk account does not exist.")
MSG_OWN = N_("You cannot reset your own second factor. Please ask another supervisor.")
MSG_RESET_DONE = N_("The second factor of {name} was reset. They set it up again at their "
                    "next login.")
MSG_ENROLLED = N_("The second factor is turned on.")
MSG_DISABLED = N_("The second factor is turned off.")
MSG_RECOVERY_LEFT = N_("You logged in with a recovery code. {left} recovery codes are left.")
MSG_RECOVERY_LOW = N_("You logged in with a recovery code. Only {left} recovery codes are "
                      "left: please create new ones in your settings.")
MSG_RECOVERY_LOW_DESK = N_("You logged in with a recovery code. Only {left} recovery codes "
                           "are left: please create new ones (command palette, Ctrl+P).")
MSG_LETTER_WRITTEN = N_("The recovery codes were saved as {path}.")
MSG_LETTER_CODES = N_("These recovery codes are not valid (any more).")
MSG_NO_DISK = N_("The file could not be written. Please ask the staff.")
MSG_SECRET_BROKEN = N_("The second factor cannot be read with this installation's secret key. "
                       "Please ask a supervisor to reset it.")


# --------------------------------------------------------------------------- results


class Enrolment(BaseModel):
    """What the enrolment screen shows: the secret (grouped for typing) and its URI."""

    secret: str
    grouped: str
    uri: str
    account_name: str


class EnrolmentDone(BaseModel):
    recovery_codes: list[str]
    message: str = MSG_ENROLLED
    #: the session's account (after an enrolment at login: the login's result)
    account_id: int
    display_name: str
    kind: str
    language: str


class LoginDone(BaseModel):
    token: str
    account_id: int
    display_name: str
    kind: str
    language: str
    recovery_left: int | None = None
    message: str | None = None
    params: dict[str, int] = {}


class FactorStatus(BaseModel):
    enabled: bool
    mandatory: bool
    recovery_left: int
    recommended: bool


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class LetterResult(BaseModel):
    path: str
    message: str = MSG_LETTER_WRITTEN
    params: dict[str, str] = {}


class ResetResult(BaseModel):
    message: str = MSG_RESET_DONE
    params: dict[str, str] = {}


# --------------------------------------------------------------------------- helpers


def is_mandatory(account: Account) -> bool:
    return account.kind in sessions.AGENT_KINDS


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def group(secret: str) -> str:
    """The secret in groups of four for typing into an app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _box(backend: Backend) -> SecretBox:
    box = getattr(backend, "_second_factor_box", None)
    if box is None:
        # a 256-bit key of its own, derived from the installation secret (HMAC-SHA256)
        box = SecretBox(bytes.fromhex(backend.digester.digest("aead-key", KEY_PURPOSE)))
        backend._second_factor_box = box  # type: ignore[attr-defined]
    return box


def _aad(account_id: int) -> str:
    return f"second_factor:{account_id}"


def current_step(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP


def code_at(secret: str, now: dt.datetime) -> str:
    """The code an authenticator app shows at ``now`` (tests and benchmarks use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(now)


def _clean_code(code: str) -> str:
    return re.sub(r"[\s\-]", "", nfkc(code or ""))


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The step within ±WINDOW whose code is ``code`` (all three compared), else None."""
    if not re.fullmatch(rf"\d{{{DIGITS}}}", code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    found = None
    now_step = current_step(now)
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


# Built once: the code step runs on every agent login (the benchmark's 5 % budget).
_USE_STEP = update(SecondFactor).where(
    SecondFactor.id == bindparam("factor_id"),
    or_(SecondFactor.last_step.is_(None), SecondFactor.last_step < bindparam("step")),
).values(last_step=bindparam("step"))
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


def _use_step(db: DbSession, factor_id: int, step: int) -> bool:
    """Raise ``last_step`` to ``step`` unless this or a later step was used (atomic)."""
    # on the session's connection: the ORM has nothing to synchronise here
    return db.connection().execute(_USE_STEP, {"factor_id": factor_id,
                                               "step": step}).rowcount == 1


def _check_totp(db: DbSession, backend: Backend, factor: SecondFactor, code: str) -> bool:
    return _check_sealed(db, backend, factor.id, factor.account_id, factor.secret_sealed, code)


def _check_sealed(db: DbSession, backend: Backend, factor_id: int, account_id: int,
                  sealed: str, code: str) -> bool:
    """The code against the sealed secret (±1 step), its step used once."""
    try:
        secret = _box(backend).open(sealed, _aad(account_id))
    except DecryptionFailed:
        raise StorageUnavailable(MSG_SECRET_BROKEN) from None
    step = _matching_step(secret, _clean_code(code), backend.now())
    return step is not None and _use_step(db, factor_id, step)


_FACTOR = select(SecondFactor).where(SecondFactor.account_id == bindparam("account_id")
                                     ).execution_options(populate_existing=True)
_HAS_FACTOR = select(SecondFactor.id).where(SecondFactor.account_id == bindparam("account_id"),
                                            SecondFactor.confirmed_at.is_not(None))


def _factor(db: DbSession, account_id: int, *, confirmed: bool = True) -> SecondFactor | None:
    factor = db.scalars(_FACTOR, {"account_id": account_id}).first()
    return factor if factor is None or not confirmed or factor.confirmed_at else None


def has_factor(db: DbSession, account_id: int) -> bool:
    """Whether the account has a confirmed factor (the password step asks this at every
    login: one prepared statement)."""
    return db.scalar(_HAS_FACTOR, {"account_id": account_id}) is not None


def _recovery_digest(backend: Backend, account_id: int, code: str) -> str:
    return backend.digester.digest("recovery_code", f"{account_id}:{normalize_code(code)}")


def format_recovery(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def _new_recovery_codes(db: DbSession, backend: Backend, account_id: int) -> list[str]:
    """Replace the account's recovery codes by ten new ones (returned once, formatted)."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    now = backend.now()
    codes: list[str] = []
    while len(codes) < RECOVERY_COUNT:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(RECOVERY_LENGTH))
        if code not in codes:
            codes.append(code)
    db.add_all(RecoveryCode(account_id=account_id, created_at=now,
                            code_digest=_recovery_digest(backend, account_id, code))
               for code in codes)
    return [format_recovery(code) for code in codes]


def recovery_left(db: DbSession, account_id: int) -> int:
    return db.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None))) or 0


def _use_recovery(db: DbSession, backend: Backend, account_id: int, code: str) -> bool:
    cleaned = normalize_code(code)
    if len(cleaned) != RECOVERY_LENGTH:
        return False
    result = db.execute(update(RecoveryCode).where(
        RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None),
        RecoveryCode.code_digest == _recovery_digest(backend, account_id, cleaned),
    ).values(used_at=backend.now()).execution_options(synchronize_session=False))
    return result.rowcount == 1


# --------------------------------------------------------------------------- login hooks


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


def _pending_enrol(db: DbSession, backend: Backend, token: str | None
                   ) -> tuple[Session, Account]:
    row = db.scalars(select(Session).where(
        Session.token_digest == sessions.digest(backend, token or ""))).first()
    _expired_unless(row is not None and row.ended_at is None and row.second_factor == ENROL
                    and backend.now() < row.created_at + PENDING_VALID, "missing")
    assert row is not None
    account = db.get(Account, row.account_id)
    _expired_unless(account is not None and account.status not in ("locked", "disabled"),
                    "account")
    assert account is not None
    return row, account


def _finish(row: Session, now: dt.datetime) -> None:
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
    if not _clean_code(code):
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
            ok = _use_recovery(db, backend, account_id, code)
        else:
            ok = _check_sealed(db, backend, found.factor_id, account_id, found.secret_sealed,
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


# --------------------------------------------------------------------------- enrolment


def _enrolling_session(db: DbSession, backend: Backend, token: str | None
                       ) -> tuple[Session, Account]:
    """A pending ``enrol`` login, or a full session whose password was entered recently
    (customers turning it on in their settings)."""
    digest = sessions.digest(backend, token or "")
    row = db.scalars(select(Session).where(Session.token_digest == digest)).first()
    if row is not None and row.second_factor == ENROL:
        return _pending_enrol(db, backend, token)
    return sessions.live_recent(db, backend, token)


def begin_enrolment(backend: Backend, token: str | None, *, secret: str | None = None
                    ) -> Enrolment:
    """A new secret for the account (sealed, not yet confirmed); replaces an unconfirmed
    one. ``secret`` may be given (tests and snapshots show a fixed one)."""
    secret = secret or new_secret()
    with backend.transaction() as db:
        _row, account = _enrolling_session(db, backend, token)
        if has_factor(db, account.id):
            raise Conflict(MSG_ALREADY_ON)
        name = account.username or account.email or str(account.id)
        sealed = _box(backend).seal(secret, _aad(account.id))
        existing = _factor(db, account.id, confirmed=False)
        if existing is None:
            db.add(SecondFactor(account_id=account.id, secret_sealed=sealed,
                                created_at=backend.now()))
        else:
            existing.secret_sealed, existing.last_step = sealed, None
            existing.created_at = backend.now()
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
            name=name, issuer_name=ISSUER)
        return Enrolment(secret=secret, grouped=group(secret), uri=uri, account_name=name)


def confirm_enrolment(backend: Backend, token: str | None, code: str, caller: Caller
                      ) -> EnrolmentDone:
    """The current code proves the app has the secret: the factor is on, ten recovery codes
    come back (shown once), and a pending login becomes a full session."""
    if not _clean_code(code):
        raise ValidationFailed(MSG_CODE_FORMAT, fields={"code": MSG_CODE_FORMAT})
    now = backend.now()
    with backend.transaction() as db:
        row, account = _enrolling_session(db, backend, token)
        factor = _factor(db, account.id, confirmed=False)
        if factor is None or factor.confirmed_at is not None:
            raise Conflict(MSG_ALREADY_ON if factor is not None else MSG_NOT_ON)
        if not _check_totp(db, backend, factor, code):
            raise ValidationFailed(MSG_ENROL_WRONG, fields={"code": MSG_ENROL_WRONG})
        confirmed = db.execute(update(SecondFactor).where(
            SecondFactor.id == factor.id, SecondFactor.confirmed_at.is_(None))
            .values(confirmed_at=now)).rowcount
        if confirmed != 1:
            raise Conflict(MSG_ALREADY_ON)
        codes = _new_recovery_codes(db, backend, account.id)
        if row.second_factor == ENROL:
            _finish(row, now)
            audit.record(db, "login_second_factor", actor_id=account.id,
                         terminal_id=caller.terminal_id, method="enrolment", now=now)
        audit.record(db, "second_factor_enrolled", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=now)
        return EnrolmentDone(recovery_codes=codes, account_id=account.id,
                             display_name=sessions.display_name(account), kind=account.kind,
                             language=account.language)


# --------------------------------------------------------------------------- settings


def _recommended(db: DbSession, account: Account) -> bool:
    return db.scalar(select(Membership.id).where(
        Membership.account_id == account.id,
        Membership.role.in_(("super_admin", "admin")),
        Membership.state.in_(("active", "approved")),
    ).limit(1)) is not None


def status(backend: Backend, token: str | None) -> FactorStatus:
    """For "Meine Einstellungen": on or off, recovery codes left, and whether it is
    recommended (organisation super admins and admins)."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        enabled = has_factor(db, account.id)
        return FactorStatus(enabled=enabled, mandatory=is_mandatory(account),
                            recovery_left=recovery_left(db, account.id) if enabled else 0,
                            recommended=not enabled and _recommended(db, account))


def disable(backend: Backend, token: str | None, password: str, code: str, caller: Caller
            ) -> FactorStatus:
    """Turn it off (customers only): the password and a current code (both throttled)."""
    now = backend.now()
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        if is_mandatory(account):
            raise NotAllowed(MSG_MANDATORY)
        factor = _factor(db, account.id)
        if factor is None:
            raise Conflict(MSG_NOT_ON)
        sessions.check_password_throttled(db, backend, account, password, row.terminal_id,
                                          field="password")
        if not _check_totp(db, backend, factor, code):
            throttle.fail(db, "login", "account", f"a{account.id}", throttle.LOGIN_ACCOUNT,
                          now)
            audit.record(db, "second_factor_disable", outcome="failed", actor_id=account.id,
                         terminal_id=caller.terminal_id, now=now)
            db.commit()
            raise AuthFailed(MSG_CODE_FAILED, fields={"code": MSG_CODE_FAILED})
        _remove(db, account.id)
        row.reauth_at = now
        audit.record(db, "second_factor_disabled", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=now)
        return FactorStatus(enabled=False, mandatory=False, recovery_left=0,
                            recommended=_recommended(db, account))


def new_recovery_codes(backend: Backend, token: str | None, caller: Caller) -> RecoveryCodes:
    """Ten new recovery codes (the old ones stop working); needs the password recently."""
    with backend.transaction() as db:
        _row, account = sessions.live_recent(db, backend, token)
        if not has_factor(db, account.id):
            raise Conflict(MSG_NOT_ON)
        codes = _new_recovery_codes(db, backend, account.id)
        audit.record(db, "recovery_codes_renewed", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=backend.now())
        return RecoveryCodes(recovery_codes=codes)


def write_recovery_letter(backend: Backend, token: str | None, codes: list[str],
                          caller: Caller) -> LetterResult:
    """The recovery codes as a PDF letter in the export directory (never mailed). Only
    codes that are the account's unused ones are written."""
    from services.exports import _write

    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        digests = {r for r in db.scalars(select(RecoveryCode.code_digest).where(
            RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None)))}
        if not codes or any(_recovery_digest(backend, account.id, c) not in digests
                            for c in codes):
            raise ValidationFailed(MSG_LETTER_CODES)
        name = account.username or account.email or ""
        account_id = account.id
    stamp = backend.now().strftime("%Y%m%d-%H%M%S")
    folder = backend.settings.resolved_export_dir
    path = folder / f"wiederherstellungscodes-{account_id}-{stamp}.pdf"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(path, build_letter_pdf(caller.language, name, codes, backend.now()))
    except OSError as exc:
        raise StorageUnavailable(MSG_NO_DISK) from exc
    with backend.transaction() as db:
        audit.record(db, "recovery_letter_written", actor_id=account_id,
                     terminal_id=caller.terminal_id, now=backend.now())
    return LetterResult(path=str(path), params={"path": str(path)})


LETTER_TITLE = N_("Recovery codes for your second factor")
LETTER_BODY = N_("Account: {name}. Created on {date}. Each code works once, in place of the "
                 "code from your authenticator app. Keep this letter somewhere safe and away "
                 "from your phone; creating new codes makes these invalid.")


def build_letter_pdf(language: str, name: str, codes: list[str], now: dt.datetime) -> bytes:
    """The letter with the recovery codes (fpdf2, core fonts: Latin-1)."""
    from fpdf import FPDF

    from services.i18n import translate

    def latin(text: str) -> str:
        return text.encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF(format="A4")
    pdf.set_title(latin(translate(language, LETTER_TITLE)))
    pdf.set_creator("Kundenkiosk")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(0, 10, latin(translate(language, LETTER_TITLE)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, latin(translate(language, LETTER_BODY, name=name,
                                         date=now.strftime("%d.%m.%Y"))))
    pdf.ln(4)
    pdf.set_font("Courier", style="B", size=14)
    for number, code in enumerate(codes, 1):
        pdf.cell(0, 9, f"{number:2d}.  {latin(code)}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --------------------------------------------------------------------------- reset


def _remove(db: DbSession, account_id: int) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    db.execute(delete(SecondFactor).where(SecondFactor.account_id == account_id))


def _agent_by_name(db: DbSession, name: str) -> Account:
    agent = db.scalars(select(Account).where(
        Account.username_key == username_key(nfkc(name or "")),
        Account.kind.in_(sessions.AGENT_KINDS))).first()
    if agent is None:
        raise NotFound(MSG_NOT_AGENT, fields={"name": MSG_NOT_AGENT})
    return agent


def _reset(db: DbSession, agent: Account, actor_id: int | None, via: str,
           terminal_id: str | None, now: dt.datetime) -> ResetResult:
    _remove(db, agent.id)
    ended = sessions.end_all(db, agent.id, "second_factor_reset", now)
    audit.record(db, "second_factor_reset", actor_id=actor_id, terminal_id=terminal_id,
                 account=agent.id, via=via, sessions=ended, now=now)
    return ResetResult(params={"name": agent.username or ""})


def reset_for_agent(backend: Backend, token: str | None, name: str, caller: Caller
                    ) -> ResetResult:
    """A supervisor resets another agent's second factor (not their own); the agent enrols
    again at the next login and their sessions end. Needs the password recently."""
    now = backend.now()
    with backend.transaction() as db:
        _row, supervisor = sessions.live_recent(db, backend, token)
        if supervisor.kind != "supervisor":
            raise NotAllowed(N_("Only a supervisor may do this."))
        agent = _agent_by_name(db, name)
        if agent.id == supervisor.id:
            raise NotAllowed(MSG_OWN, fields={"name": MSG_OWN})
        return _reset(db, agent, supervisor.id, "desk", caller.terminal_id, now)


def reset_by_operator(backend: Backend, name: str) -> ResetResult:
    """``kiosk agent reset-2fa NAME``: for the first supervisor who lost theirs."""
    with backend.transaction() as db:
        return _reset(db, _agent_by_name(db, name), None, "cli", None, backend.now())


__all__ = [
    "CODE", "DECOY", "ENROL", "ISSUER", "Enrolment", "EnrolmentDone", "FactorStatus",
    "LetterResult", "LoginDone", "RecoveryCodes", "ResetResult", "begin_enrolment",
    "code_at", "complete_login", "confirm_enrolment", "disable", "group", "is_mandatory",
    "login_step", "new_recovery_codes", "new_secret", "open_decoy", "reset_by_operator",
    "reset_for_agent", "status", "wants_decoy", "write_recovery_letter",
]
