"""The small pieces every accounts flow shares: the form-level messages, the plain result of a
request, how a password is prepared for hashing, how an account is found by username or e-mail,
and the two ways a flow ends in an error (``raise_after_commit``, ``_validation``).

Nothing here knows a flow; every other module of ``services.accounts`` may import it.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DbSession

from db.models import Account
from services import sessions
from services.errors import N_, DomainError, ValidationFailed
from services.normalize import email_key, nfkc, username_key

if TYPE_CHECKING:
    from services.backend import Backend


MSG_FORM = N_("Please correct the marked fields.")
MSG_REQUIRED = N_("This field must not be empty.")
MSG_EMAIL_UNUSABLE = N_("This e-mail address cannot be used.")


class RequestResult(BaseModel):
    message: str
    params: dict[str, Any] = {}


def prepare_password(password: str) -> str:
    """Passwords are hashed in NFKC (NIST SP 800-63B), so every keyboard gives the same."""
    return unicodedata.normalize("NFKC", password)


def _find_account(db: DbSession, identifier: str, kinds: tuple[str, ...] | None = None
                  ) -> Account | None:
    text = nfkc(identifier)
    if not text:
        return None
    query = select(Account).where(
        or_(Account.username_key == username_key(text), Account.email_key == email_key(text))
    )
    if kinds:
        query = query.where(Account.kind.in_(kinds))
    return db.scalars(query.order_by(Account.id)).first()


def _identifier_key(backend: Backend, identifier: str) -> str:
    return "i" + backend.digester.digest("login-identifier", username_key(identifier))[:40]


def _name(account: Account) -> str:
    return sessions.display_name(account)


def raise_after_commit(db: DbSession, error: DomainError) -> None:
    """Keep the counters written so far (a raise inside the transaction would undo them)."""
    db.commit()
    raise error


def _validation(field: str, msgid: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(msgid, fields={field: msgid}, params=params)
