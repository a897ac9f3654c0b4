"""Resetting an agent's second factor (#15), when the phone and the recovery codes are gone.

``reset_for_agent``: a supervisor (with the password recently) resets another agent's factor,
never their own. ``reset_by_operator`` is ``kiosk agent reset-2fa NAME``, for the first
supervisor who lost theirs. The factor and recovery codes are removed and the agent's
sessions end; they enrol again at the next login. Audited (``second_factor_reset``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Account
from services import audit, sessions
from services.errors import N_, NotAllowed, NotFound
from services.normalize import nfkc, username_key
from services.second_factor.factor import remove_factor

if TYPE_CHECKING:
    from services.backend import Backend
    from services.caller import Caller

MSG_NOT_AGENT = N_("This service-desk account does not exist.")
MSG_OWN = N_("You cannot reset your own second factor. Please ask another supervisor.")
MSG_RESET_DONE = N_("The second factor of {name} was reset. They set it up again at their "
                    "next login.")


class ResetResult(BaseModel):
    message: str = MSG_RESET_DONE
    params: dict[str, str] = {}


def _agent_by_name(db: DbSession, name: str) -> Account:
    agent = db.scalars(select(Account).where(
        Account.username_key == username_key(nfkc(name or "")),
        Account.kind.in_(sessions.AGENT_KINDS))).first()
    if agent is None:
        raise NotFound(MSG_NOT_AGENT, fields={"name": MSG_NOT_AGENT})
    return agent


def _reset(db: DbSession, agent: Account, actor_id: int | None, via: str,
           terminal_id: str | None, now: dt.datetime) -> ResetResult:
    remove_factor(db, agent.id)
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
