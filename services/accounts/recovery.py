"""Passwords of customer accounts: the reset of a forgotten one with a mailed code
(``request_password_reset``, ``reset_password``) or link (``reset_password_link``), and the
change of a known one (``change_password``). The new password follows ``services.passwords``.

The reset request gets the same answer whether an account exists or not and takes at least
``response_floor_ms``; a reset unlocks the account and ends its sessions, without logging in;
a change ends the account's other sessions. Both mail the owner.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session as DbSession

from db.models import Account
from services import audit, mail, sessions, throttle
from services.accounts.common import (
    MSG_FORM,
    MSG_REQUIRED,
    RequestResult,
    _find_account,
    _name,
    _validation,
    prepare_password,
    raise_after_commit,
)
from services.accounts.tokens import (
    MAX_CODE_TRIES,
    MSG_CODE_INVALID,
    PURPOSE_RESET,
    _carried_tries,
    check_code,
    issue_token,
    live_link_token,
    public_url,
    request_allowed,
    use_token,
)
from services.errors import N_, ValidationFailed
from services.normalize import nfkc, text_input
from services.passwords import check_password
from services.timing import equal_time

if TYPE_CHECKING:
    from services.backend import Backend, Caller


MSG_RESET_SENT = N_(
    "If an account exists for this entry, we have sent an e-mail with a code to reset the "
    "password. The code is valid for 30 minutes."
)
MSG_RESET_DONE = N_("Your password has been changed. Please log in with your new password.")
MSG_PASSWORD_CHANGED = N_("Your password has been changed.")


def _new_password_problem(password: str, account: Account | None, field: str) -> None:
    problems = check_password(
        password,
        username=account.username if account else None,
        email=account.email if account else None,
        first_name=account.first_name if account else None,
        last_name=account.last_name if account else None,
    )
    if problems:
        raise ValidationFailed(problems[0], fields={field: problems[0]},
                               params={"problems": problems})


@equal_time
@text_input()
def request_password_reset(backend: Backend, identifier: str, caller: Caller) -> RequestResult:
    """Mail a reset code; the same answer whether an account exists or not."""
    if not nfkc(identifier or ""):
        raise _validation("identifier", MSG_REQUIRED)
    now = backend.now()
    result = RequestResult(message=MSG_RESET_SENT)
    with backend.transaction() as db:
        if request_allowed(db, backend, "reset_request", identifier):
            return result  # silently: a visible wait would tell that the account exists
        account = _find_account(db, identifier, ("customer",))
        if account is None or not account.email or account.status == "disabled":
            audit.record(db, "password_reset_request", outcome="unknown",
                         terminal_id=caller.terminal_id, now=now)
            return result
        tries, _until = _carried_tries(db, account.id, PURPOSE_RESET, now)
        if tries >= MAX_CODE_TRIES:
            audit.record(db, "password_reset_request", outcome="throttled",
                         actor_id=account.id, terminal_id=caller.terminal_id, now=now)
            return result
        code, link = issue_token(db, backend, account, PURPOSE_RESET)
        mail.enqueue(db, to=account.email, template="password_reset", language=caller.language,
                     params={"code": code, "link": public_url(backend, "reset", link),
                             "name": _name(account)})
        audit.record(db, "password_reset_request", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=now)
    return result


@text_input()
def reset_password(backend: Backend, identifier: str, code: str, new_password: str,
                   caller: Caller) -> RequestResult:
    """Set a new password with the mailed code. No automatic login; unlocks the account and
    ends its sessions."""
    fields = {}
    if not nfkc(identifier or ""):
        fields["identifier"] = MSG_REQUIRED
    if not (code or "").strip():
        fields["code"] = MSG_REQUIRED
    problems = check_password(new_password)
    if problems:
        fields["new_password"] = problems[0]
    if fields:
        raise ValidationFailed(MSG_FORM, fields=fields)
    now = backend.now()
    with backend.transaction() as db:
        account = _find_account(db, identifier, ("customer",))
        token = check_code(db, backend, account, PURPOSE_RESET, code) if account else None
        if account is None or token is None:
            audit.record(db, "password_reset", outcome="failed",
                         actor_id=account.id if account else None,
                         terminal_id=caller.terminal_id, now=now)
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        assert account is not None
        _apply_reset(db, backend, account, new_password, caller, now)
    return RequestResult(message=MSG_RESET_DONE)


@text_input()
def reset_password_link(backend: Backend, link_token: str, new_password: str, caller: Caller
                        ) -> RequestResult:
    """The web variant of ``reset_password``: the token from the mailed link instead of the
    identifier and the code (a weak password leaves the link valid)."""
    problems = check_password(new_password)
    if problems:
        raise ValidationFailed(MSG_FORM, fields={"new_password": problems[0]})
    now = backend.now()
    with backend.transaction() as db:
        found = live_link_token(db, backend, link_token, now)
        if (found is None or found[1].kind != "customer" or found[0].purpose != PURPOSE_RESET
                or not use_token(db, found[0], now)):
            audit.record(db, "password_reset", outcome="failed", terminal_id=caller.terminal_id,
                         via="link", now=now)
            raise_after_commit(db, _validation("code", MSG_CODE_INVALID))
        assert found is not None
        _apply_reset(db, backend, found[1], new_password, caller, now)
    return RequestResult(message=MSG_RESET_DONE)


def _apply_reset(db: DbSession, backend: Backend, account: Account, new_password: str,
                 caller: Caller, now: dt.datetime) -> None:
    """The new password after a valid code or link: unlock, end sessions, mail, audit."""
    # raising here rolls the use of the code back: it stays valid for another password
    _new_password_problem(new_password, account, "new_password")
    account.password_hash = backend.hasher.hash(prepare_password(new_password))
    account.password_changed_at = now
    if account.status == "locked":
        account.status = "active" if account.verified_at else "unverified"
        audit.record(db, "account_unlocked", actor_id=account.id, via="reset", now=now)
    account.failed_logins = 0
    account.locked_until = None
    throttle.reset(db, "login", "account", f"a{account.id}")
    sessions.end_all(db, account.id, "password_reset", now)
    if account.email:
        mail.enqueue(db, to=account.email, template="password_changed",
                     language=account.language, params={"name": _name(account)})
    audit.record(db, "password_reset", actor_id=account.id, terminal_id=caller.terminal_id,
                 now=now)


@text_input()
def change_password(backend: Backend, token: str | None, current_password: str,
                    new_password: str) -> RequestResult:
    """Needs the current password; other sessions of the account end."""
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        now = backend.now()
        fields = {}
        if not current_password:
            fields["current_password"] = MSG_REQUIRED
        problems = check_password(new_password, username=account.username, email=account.email,
                                  first_name=account.first_name, last_name=account.last_name)
        if problems:
            fields["new_password"] = problems[0]
        if fields:
            raise ValidationFailed(MSG_FORM, fields=fields)
        sessions.check_password_throttled(db, backend, account, prepare_password(current_password),
                                          row.terminal_id, field="current_password")
        account.password_hash = backend.hasher.hash(prepare_password(new_password))
        account.password_changed_at = now
        row.reauth_at = now
        sessions.end_all(db, account.id, "password_changed", now, except_digest=row.token_digest)
        if account.email:
            mail.enqueue(db, to=account.email, template="password_changed",
                         language=account.language, params={"name": _name(account)})
        audit.record(db, "password_change", actor_id=account.id, terminal_id=row.terminal_id,
                     now=now)
    return RequestResult(message=MSG_PASSWORD_CHANGED)
