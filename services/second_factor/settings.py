"""The second factor in "Meine Einstellungen" (#15): its status, and turning it off.

``status`` says whether it is on, how many recovery codes are left and whether it is
recommended (organisation super admins and admins). ``disable`` turns it off for a customer
with the password and a current code (both throttled); service-desk accounts must keep theirs
(``MSG_MANDATORY``). New recovery codes are in ``recovery``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Membership
from services import audit, sessions
from services.errors import N_, Conflict, NotAllowed
from services.second_factor.factor import (
    MSG_NOT_ON,
    find_factor,
    has_factor,
    is_mandatory,
    remove_factor,
)
from services.second_factor.login import check_password_and_code
from services.second_factor.recovery import recovery_left

if TYPE_CHECKING:
    from services.backend import Backend
    from services.caller import Caller

MSG_MANDATORY = N_("Service-desk accounts must keep their second factor.")
MSG_DISABLED = N_("The second factor is turned off.")


class FactorStatus(BaseModel):
    enabled: bool
    mandatory: bool
    recovery_left: int
    recommended: bool


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
    """Turn it off (customers only): the password and a current code (or a recovery code),
    checked as one attempt on the login counters (``login.check_password_and_code``)."""
    now = backend.now()
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        if is_mandatory(account):
            raise NotAllowed(MSG_MANDATORY)
        factor = find_factor(db, account.id)
        if factor is None:
            raise Conflict(MSG_NOT_ON)
        check_password_and_code(db, backend, account, factor, password, code,
                                caller.terminal_id, event="second_factor_disable")
        remove_factor(db, account.id)
        row.reauth_at = now
        audit.record(db, "second_factor_disabled", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=now)
        return FactorStatus(enabled=False, mandatory=False, recovery_left=0,
                            recommended=_recommended(db, account))
