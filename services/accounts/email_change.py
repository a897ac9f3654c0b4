"""Changing the e-mail address of a logged-in account: ``request_email_change`` (needs the
password; mails a code to the new address, the same answer whether the address is taken or
not) and ``confirm_email_change`` (the code: the address changes, the old one is told by mail).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db.models import Account
from services import audit, mail, sessions
from services.accounts.common import (
    MSG_EMAIL_UNUSABLE,
    MSG_REQUIRED,
    RequestResult,
    _name,
    _validation,
    prepare_password,
    raise_after_commit,
)
from services.accounts.forms import normalize_email
from services.accounts.tokens import (
    MSG_CODE_INVALID,
    PURPOSE_EMAIL_CHANGE,
    check_code,
    issue_token,
    public_url,
)
from services.errors import N_
from services.normalize import email_key, text_input

if TYPE_CHECKING:
    from services.backend import Backend


MSG_EMAIL_CHANGE_SENT = N_("We have sent a code to {email}. Please enter it to confirm the new address.")
MSG_EMAIL_SAME = N_("This is already your e-mail address.")
MSG_EMAIL_CHANGED = N_("Your e-mail address has been changed.")


@text_input()
def request_email_change(backend: Backend, token: str | None, password: str, new_email: str
                         ) -> RequestResult:
    """Needs the password; mails a code to the new address (nothing changes until confirmed)."""
    try:
        address = normalize_email(new_email)
    except PydanticCustomError as exc:
        raise _validation("email", exc.message()) from None
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        now = backend.now()
        if not password:
            raise _validation("password", MSG_REQUIRED)
        sessions.check_password_throttled(db, backend, account, prepare_password(password),
                                          row.terminal_id, field="password")
        row.reauth_at = now
        if email_key(address) == account.email_key:
            raise _validation("email", MSG_EMAIL_SAME)
        taken = db.scalar(select(Account.id).where(Account.email_key == email_key(address)))
        if taken is not None:
            # the same answer: whether an address is taken is nobody else's business
            audit.record(db, "email_change_request", outcome="taken", actor_id=account.id,
                         terminal_id=row.terminal_id, now=now)
        else:
            code, link = issue_token(db, backend, account, PURPOSE_EMAIL_CHANGE,
                                      new_email=address)
            mail.enqueue(db, to=address, template="email_change_confirm",
                         language=account.language,
                         params={"code": code, "link": public_url(backend, "confirm-email", link),
                                 "name": _name(account)})
            audit.record(db, "email_change_request", actor_id=account.id,
                         terminal_id=row.terminal_id, now=now)
    return RequestResult(message=MSG_EMAIL_CHANGE_SENT, params={"email": address})


@text_input()
def confirm_email_change(backend: Backend, token: str | None, code: str) -> RequestResult:
    """The code from the new address: the address changes, the old one is told by mail."""
    if not (code or "").strip():
        raise _validation("code", MSG_REQUIRED)
    try:
        with backend.transaction() as db:
            row, account = sessions.live(db, backend, token)
            now = backend.now()
            found = check_code(db, backend, account, PURPOSE_EMAIL_CHANGE, code)
            if found is None or not found.new_email:
                audit.record(db, "email_change", outcome="failed", actor_id=account.id,
                             terminal_id=row.terminal_id, now=now)
                raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
            assert found is not None and found.new_email
            old = account.email
            account.email = found.new_email
            account.email_key = email_key(found.new_email)
            db.flush()
            if old:
                mail.enqueue(db, to=old, template="email_changed_notice",
                             language=account.language,
                             params={"name": _name(account), "new_email": found.new_email})
            audit.record(db, "email_change", actor_id=account.id, terminal_id=row.terminal_id,
                         now=now)
            new = found.new_email
    except IntegrityError:
        raise _validation("email", MSG_EMAIL_UNUSABLE) from None
    return RequestResult(message=MSG_EMAIL_CHANGED, params={"email": new})
