"""The second factor itself (#15): its TOTP secret, sealed, and the check of one code.

The secret (160 random bits, base32) is sealed with AES-256-GCM under a key derived from the
installation secret (``services.secretbox``, ``secret_box``), bound to the account id
(``aad``); it is never logged or audited. A code counts in the time step before, at and after
now (±30 s, ``WINDOW``) only, and a time step is used once: ``SecondFactor.last_step`` is
raised by one conditional UPDATE (``last_step < step``), so two terminals submitting the same
code at the same moment get one success between them, on SQLite and PostgreSQL
(``check_sealed``). Also here: whether an account must have one (agents and supervisors),
whether it has one (asked at every login: one prepared statement), and removing it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import Session as DbSession

from db.models import Account, RecoveryCode, SecondFactor
from services import sessions
from services.errors import N_, StorageUnavailable
from services.normalize import nfkc
from services.secretbox import DecryptionFailed, SecretBox

if TYPE_CHECKING:
    from services.backend import Backend

ISSUER = "Kundenkiosk"
STEP = 30
DIGITS = 6
WINDOW = 1  # steps before and after now
PENDING_VALID = dt.timedelta(minutes=10)
KEY_PURPOSE = "totp-seal"

#: Session.second_factor values of a login waiting for its second step. DELETION: the code
#: was right, but the account waits for its deletion; the session only serves to cancel it
#: (``services.privacy.cancel_deletion_after_code``).
CODE, ENROL, DECOY, DELETION = "code", "enrol", "decoy", "deletion"

MSG_ALREADY_ON = N_("The second factor is already turned on.")
MSG_NOT_ON = N_("The second factor is not turned on.")
MSG_SECRET_BROKEN = N_("The second factor cannot be read with this installation's secret key. "
                       "Please ask a supervisor to reset it.")


def is_mandatory(account: Account) -> bool:
    return account.kind in sessions.AGENT_KINDS


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def group(secret: str) -> str:
    """The secret in groups of four for typing into an app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def secret_box(backend: Backend) -> SecretBox:
    box = getattr(backend, "_second_factor_box", None)
    if box is None:
        # a 256-bit key of its own, derived from the installation secret (HMAC-SHA256)
        box = SecretBox(bytes.fromhex(backend.digester.digest("aead-key", KEY_PURPOSE)))
        backend._second_factor_box = box  # type: ignore[attr-defined]
    return box


def aad(account_id: int) -> str:
    return f"second_factor:{account_id}"


def current_step(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP


def code_at(secret: str, now: dt.datetime) -> str:
    """The code an authenticator app shows at ``now`` (tests and benchmarks use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(now)


def clean_code(code: str) -> str:
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


def _use_step(db: DbSession, factor_id: int, step: int) -> bool:
    """Raise ``last_step`` to ``step`` unless this or a later step was used (atomic)."""
    # on the session's connection: the ORM has nothing to synchronise here
    return db.connection().execute(_USE_STEP, {"factor_id": factor_id,
                                               "step": step}).rowcount == 1


def check_totp(db: DbSession, backend: Backend, factor: SecondFactor, code: str) -> bool:
    return check_sealed(db, backend, factor.id, factor.account_id, factor.secret_sealed, code)


def check_sealed(db: DbSession, backend: Backend, factor_id: int, account_id: int,
                  sealed: str, code: str) -> bool:
    """The code against the sealed secret (±1 step), its step used once."""
    try:
        secret = secret_box(backend).open(sealed, aad(account_id))
    except DecryptionFailed:
        raise StorageUnavailable(MSG_SECRET_BROKEN) from None
    step = _matching_step(secret, clean_code(code), backend.now())
    return step is not None and _use_step(db, factor_id, step)


_FACTOR = select(SecondFactor).where(SecondFactor.account_id == bindparam("account_id")
                                     ).execution_options(populate_existing=True)
_HAS_FACTOR = select(SecondFactor.id).where(SecondFactor.account_id == bindparam("account_id"),
                                            SecondFactor.confirmed_at.is_not(None))


def find_factor(db: DbSession, account_id: int, *, confirmed: bool = True
                ) -> SecondFactor | None:
    factor = db.scalars(_FACTOR, {"account_id": account_id}).first()
    return factor if factor is None or not confirmed or factor.confirmed_at else None


def has_factor(db: DbSession, account_id: int) -> bool:
    """Whether the account has a confirmed factor (the password step asks this at every
    login: one prepared statement)."""
    return db.scalar(_HAS_FACTOR, {"account_id": account_id}) is not None


def remove_factor(db: DbSession, account_id: int) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    db.execute(delete(SecondFactor).where(SecondFactor.account_id == account_id))
