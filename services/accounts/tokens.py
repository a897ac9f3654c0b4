"""Mailed codes and link tokens (issue 3): every flow that proves an address by mail uses them
(confirmation, password reset, e-mail change, and ``services.organisations`` and
``services.privacy`` too).

A code comes from the CSPRNG (10 characters without look-alikes) and is stored as a keyed digest
bound to account and purpose (``PURPOSE_*``), with the digest of a link token for the web
variant; valid 30 minutes, used once, dead after 5 wrong tries; a new code keeps the count of
wrong tries of the codes still within their validity. ``request_allowed`` limits the requests
for a new mail to one a minute per identifier, the same for known and unknown ones.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session as DbSession

from db.engine import for_update
from db.models import Account, EmailToken
from services import throttle
from services.accounts.common import _identifier_key
from services.crypto import new_code, new_token, normalize_code
from services.errors import N_

if TYPE_CHECKING:
    from services.backend import Backend


CODE_LENGTH = 10
CODE_VALID = dt.timedelta(minutes=30)
MAX_CODE_TRIES = 5
RESEND_INTERVAL = dt.timedelta(seconds=60)
PURPOSE_VERIFY = "verify_email"
PURPOSE_RESET = "password_reset"
PURPOSE_EMAIL_CHANGE = "email_change"
# Resend/reset requests: one a minute per identifier (the same for known and unknown ones).
RESEND_POLICY = throttle.Policy(max_failures=1, window=RESEND_INTERVAL, base_wait=RESEND_INTERVAL,
                                max_wait=RESEND_INTERVAL)

MSG_CODE_INVALID = N_("The code is not correct or no longer valid. Please check it or request a new code.")
MSG_RESEND_WAIT = N_("A new code can be requested once a minute. Please wait {seconds} seconds.")


def _code_digest(backend: Backend, purpose: str, account_id: int, code: str) -> str:
    return backend.digester.digest("email_code", f"{purpose}:{account_id}:{normalize_code(code)}")


def link_token_digest(backend: Backend, token: str) -> str:
    return backend.digester.digest("email_link", token)


def _carried_tries(db: DbSession, account_id: int, purpose: str, now: dt.datetime
                   ) -> tuple[int, dt.datetime | None]:
    """Wrong tries of this purpose's codes still within their validity (max), and when the
    last of those codes expires."""
    rows = db.execute(
        select(EmailToken.failed_attempts, EmailToken.expires_at).where(
            EmailToken.account_id == account_id, EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None), EmailToken.expires_at > now,
        )
    ).all()
    if not rows:
        return 0, None
    return max(r[0] for r in rows), max(r[1] for r in rows)


def issue_token(db: DbSession, backend: Backend, account: Account, purpose: str,
                 *, new_email: str | None = None) -> tuple[str, str]:
    """Revoke earlier codes of this purpose and create a new one (code, link token)."""
    now = backend.now()
    carried, _ = _carried_tries(db, account.id, purpose, now)
    for old in db.scalars(select(EmailToken).where(
        EmailToken.account_id == account.id, EmailToken.purpose == purpose,
        EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
    )):
        old.revoked_at = now
    code = new_code(CODE_LENGTH)
    link = new_token()
    db.add(EmailToken(
        account_id=account.id, purpose=purpose,
        code_digest=_code_digest(backend, purpose, account.id, code),
        link_digest=link_token_digest(backend, link), new_email=new_email,
        failed_attempts=carried, created_at=now, expires_at=now + CODE_VALID,
    ))
    return code, link


def live_link_token(db: DbSession, backend: Backend, link_token: str | None, now: dt.datetime
                    ) -> tuple[EmailToken, Account] | None:
    """The mailed link's token (row-locked) and its account while the link can still be used:
    not used, revoked, expired or dead after wrong codes. None otherwise."""
    token = db.scalars(for_update(select(EmailToken).where(
        EmailToken.link_digest == link_token_digest(backend, link_token or "")), db)).first()
    account = db.get(Account, token.account_id) if token is not None else None
    if (token is None or account is None or token.used_at or token.revoked_at
            or token.expires_at <= now or token.failed_attempts >= MAX_CODE_TRIES):
        return None
    return token, account


def use_token(db: DbSession, token: EmailToken, now: dt.datetime) -> bool:
    """Mark the token used; False when another terminal used or revoked it first."""
    return db.execute(update(EmailToken).where(
        EmailToken.id == token.id, EmailToken.used_at.is_(None),
        EmailToken.revoked_at.is_(None)).values(used_at=now)).rowcount == 1


def check_code(db: DbSession, backend: Backend, account: Account, purpose: str, code: str
                ) -> EmailToken | None:
    """The matching live token, marked used; None after counting a wrong try."""
    now = backend.now()
    token = db.scalars(for_update(
        select(EmailToken).where(
            EmailToken.account_id == account.id, EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
        ).order_by(EmailToken.id.desc()).limit(1), db,
    ).execution_options(populate_existing=True)).first()
    if token is None or token.expires_at <= now or token.failed_attempts >= MAX_CODE_TRIES:
        return None
    expected = _code_digest(backend, purpose, account.id, code or "")
    live = (EmailToken.id == token.id, EmailToken.used_at.is_(None),
            EmailToken.revoked_at.is_(None))
    if not backend.digester.same(token.code_digest, expected):
        # counted in SQL, so that simultaneous wrong tries count exactly on SQLite too
        tries = EmailToken.failed_attempts + 1
        db.execute(update(EmailToken).where(*live).values(
            failed_attempts=tries,
            revoked_at=case((tries >= MAX_CODE_TRIES, now), else_=None),
        ))
        return None
    # conditional, so that a code is used once even when submitted twice at the same moment
    if db.execute(update(EmailToken).where(*live).values(used_at=now)).rowcount != 1:
        return None
    token.used_at = now
    return token


def public_url(backend: Backend, path: str, token: str) -> str:
    return backend.settings.public_url.rstrip("/") + f"/{path}/" + token


def request_allowed(db: DbSession, backend: Backend, action: str, identifier: str) -> int:
    """Seconds to wait before another mail for this identifier (0: go), counting this one."""
    now = backend.now()
    key = _identifier_key(backend, identifier)
    state = throttle.check(db, action, "identifier", key, RESEND_POLICY, now)
    if not state.allowed(now):
        return state.wait_seconds(now)
    throttle.fail(db, action, "identifier", key, RESEND_POLICY, now)
    return 0
