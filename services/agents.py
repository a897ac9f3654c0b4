"""Service-desk agent accounts (``kiosk agent create NAME --role agent|supervisor``).

Agents are ``Account`` rows with kind ``agent`` or ``supervisor``, the name as username, the
same password policy as customers, and no e-mail. They log in with
``services.accounts.login_agent`` (the customer login refuses them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db.models import Account
from services import audit
from services.accounts import MSG_USERNAME, MSG_USERNAME_TAKEN, login_agent, prepare_password
from services.errors import N_, Conflict, ValidationFailed
from services.normalize import nfkc, text_input, username_key
from services.passwords import check_password

if TYPE_CHECKING:
    from services.backend import Backend

ROLES = ("agent", "supervisor")
MSG_ROLE = N_("The role must be agent or supervisor.")


class AgentInfo(BaseModel):
    id: int
    name: str
    role: str


@text_input()
def create_agent(backend: Backend, name: str, role: str, password: str) -> AgentInfo:
    """Create an agent or supervisor. Raises ValidationFailed (name, role, password: the
    message says why) or Conflict when the name is taken."""
    import re

    clean = nfkc(name or "")
    fields: dict[str, str] = {}
    if not re.fullmatch(r"[\w.\-]{3,64}", clean):
        fields["username"] = MSG_USERNAME
    if role not in ROLES:
        fields["type"] = MSG_ROLE
    problems = check_password(password, username=clean or None)
    if problems:
        fields["password"] = problems[0]
    if fields:
        first = next(iter(fields.values()))
        raise ValidationFailed(first, fields=fields, params={"problems": problems})
    key = username_key(clean)
    password_hash = backend.hasher.hash(prepare_password(password))
    now = backend.now()
    try:
        with backend.transaction() as db:
            if db.scalar(select(Account.id).where(Account.username_key == key)) is not None:
                raise Conflict(MSG_USERNAME_TAKEN, fields={"username": MSG_USERNAME_TAKEN})
            account = Account(kind=role, username=clean, username_key=key,
                              password_hash=password_hash, status="active", created_at=now,
                              verified_at=now, password_changed_at=now,
                              language=backend.settings.language)
            db.add(account)
            db.flush()
            audit.record(db, "agent_created", actor_id=account.id, role=role, now=now)
            return AgentInfo(id=account.id, name=clean, role=role)
    except IntegrityError:
        raise Conflict(MSG_USERNAME_TAKEN, fields={"username": MSG_USERNAME_TAKEN}) from None


__all__ = ["ROLES", "AgentInfo", "create_agent", "login_agent"]
