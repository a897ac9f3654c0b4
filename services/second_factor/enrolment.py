"""Turning the second factor on (#15): a new secret, then the app's first code confirms it.

Agents and supervisors enrol at their first login (a pending ``"enrol"`` session, after the
password was right); customers turn it on in "Meine Einstellungen" (a full session whose
password was entered recently). ``begin_enrolment`` seals a new secret and returns it with
its ``otpauth://`` URI for the app; ``confirm_enrolment`` checks the app's current code, turns
the factor on, returns ten recovery codes (shown once) and, at login, makes the pending
session a full one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyotp
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from db.models import Account, SecondFactor, Session
from services import audit, sessions
from services.errors import N_, Conflict, ValidationFailed
from services.second_factor.factor import (
    DIGITS,
    ENROL,
    ISSUER,
    MSG_ALREADY_ON,
    MSG_NOT_ON,
    STEP,
    aad,
    check_totp,
    clean_code,
    find_factor,
    group,
    has_factor,
    new_secret,
    secret_box,
)
from services.second_factor.login import MSG_CODE_FORMAT, finish_login, pending_step
from services.second_factor.recovery import replace_recovery_codes

if TYPE_CHECKING:
    from services.backend import Backend
    from services.caller import Caller

MSG_ENROL_WRONG = N_("This code is not correct. Please enter the code your app shows now.")
MSG_ENROLLED = N_("The second factor is turned on.")


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


def _enrolling_session(db: DbSession, backend: Backend, token: str | None
                       ) -> tuple[Session, Account]:
    """A pending ``enrol`` login, or a full session whose password was entered recently
    (customers turning it on in their settings)."""
    digest = sessions.digest(backend, token or "")
    row = db.scalars(select(Session).where(Session.token_digest == digest)).first()
    if row is not None and row.second_factor == ENROL:
        return pending_step(db, backend, token, ENROL)
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
        sealed = secret_box(backend).seal(secret, aad(account.id))
        existing = find_factor(db, account.id, confirmed=False)
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
    if not clean_code(code):
        raise ValidationFailed(MSG_CODE_FORMAT, fields={"code": MSG_CODE_FORMAT})
    now = backend.now()
    with backend.transaction() as db:
        row, account = _enrolling_session(db, backend, token)
        factor = find_factor(db, account.id, confirmed=False)
        if factor is None or factor.confirmed_at is not None:
            raise Conflict(MSG_ALREADY_ON if factor is not None else MSG_NOT_ON)
        if not check_totp(db, backend, factor, code):
            raise ValidationFailed(MSG_ENROL_WRONG, fields={"code": MSG_ENROL_WRONG})
        confirmed = db.execute(update(SecondFactor).where(
            SecondFactor.id == factor.id, SecondFactor.confirmed_at.is_(None))
            .values(confirmed_at=now)).rowcount
        if confirmed != 1:
            raise Conflict(MSG_ALREADY_ON)
        codes = replace_recovery_codes(db, backend, account.id)
        if row.second_factor == ENROL:
            finish_login(row, now)
            audit.record(db, "login_second_factor", actor_id=account.id,
                         terminal_id=caller.terminal_id, method="enrolment", now=now)
        audit.record(db, "second_factor_enrolled", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=now)
        return EnrolmentDone(recovery_codes=codes, account_id=account.id,
                             display_name=sessions.display_name(account), kind=account.kind,
                             language=account.language)
