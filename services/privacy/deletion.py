"""Deleting one's own account (#16, GDPR Art. 17): the request, the wait and its cancellation.

``deletion_preview`` says what will happen; ``request_deletion`` (password again) refuses
while the account is the last super admin of a company, otherwise locks the account at once
(status ``deletion_pending``), ends its sessions and mails a cancel link (``schedule``).
For ``deletion_wait_days`` the owner can cancel: logging in offers it
(``accounts.DeletionPending`` → ``cancel_deletion_login``; with a second factor after the
code, ``cancel_deletion_after_code``), or the mailed link
(``cancel_deletion_link``, answered by ``kiosk serve`` at /cancel-deletion/<token>). What
happens when the wait is over is in ``erasure``; the desk's four-eyes route into the same
schedule is in ``desk``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from db.engine import for_update
from db.models import (
    Account,
    AccountDeletion,
    Contract,
    ContractLink,
    Customer,
    CustomerLink,
    EmailToken,
    LicenceKey,
    Membership,
)
from services import accounts, audit, mail, sessions
from services.caller import Caller
from services.errors import N_, AuthFailed, Conflict, NotFound
from services.i18n import format_date
from services.privacy.document import MSG_NO_ACCOUNT
from services.privacy.export import owner_with_password
from services.second_factor.factor import DELETION, has_factor
from services.second_factor.login import finish_login, pending_step

if TYPE_CHECKING:
    from services.backend import Backend

PURPOSE_CANCEL = "deletion_cancel"
PENDING = "deletion_pending"
DELETED = "deleted"
OPEN_STATES = ("awaiting_confirmation", "scheduled")
MSG_LAST_SUPER_ADMIN = N_(
    "You are the only super admin of {companies}. Make another member super admin first; "
    "then the account can be deleted.")
MSG_DELETION_SCHEDULED = N_(
    "Your account is locked and will be deleted on {date}. Until then you can cancel the "
    "deletion by logging in again or with the link in the e-mail we have sent you.")
MSG_DELETION_CANCELLED = N_("The deletion was cancelled. Your account is active again.")
MSG_CANCEL_INVALID = N_("This link is not valid (any more), or no deletion is waiting.")
MSG_ALREADY_PENDING = N_("A deletion of this account is already under way.")


class DeletionPreview(BaseModel):
    erase_on: dt.date
    customer_numbers: list[str]
    contracts: list[str]
    licences: int
    companies: list[str]
    blocked_by: list[str]  # companies whose last super admin this account is


class DeletionResult(BaseModel):
    erase_on: dt.date | None = None
    message: str
    params: dict[str, str] = {}


def customer_account(db: DbSession, account_id: int, *, lock: bool = False) -> Account:
    query = select(Account).where(Account.id == account_id, Account.kind == "customer")
    account = db.scalars(for_update(query, db) if lock else query).first()
    if account is None or account.status == DELETED:
        raise NotFound(MSG_NO_ACCOUNT)
    return account


def _last_super_admin_of(db: DbSession, account_id: int) -> list[str]:
    """Companies in which the account is the only active super admin (with an active account)."""
    blocked = []
    for membership in db.scalars(select(Membership).where(
            Membership.account_id == account_id, Membership.role == "super_admin",
            Membership.state == "active")):
        others = db.scalar(select(func.count()).select_from(Membership).join(
            Account, Account.id == Membership.account_id).where(
            Membership.customer_id == membership.customer_id,
            Membership.role == "super_admin", Membership.state == "active",
            Membership.id != membership.id, Account.status == "active")) or 0
        if not others:
            company = db.get(Customer, membership.customer_id)
            blocked.append(company.company or company.number if company else "?")
    return blocked


def refuse_last_super_admin(db: DbSession, account_id: int) -> None:
    blocked = _last_super_admin_of(db, account_id)
    if blocked:
        raise Conflict(MSG_LAST_SUPER_ADMIN, params={"companies": ", ".join(blocked)})


def _erase_on(backend: Backend) -> dt.datetime:
    return backend.now() + dt.timedelta(days=backend.settings.deletion_wait_days)


def deletion_preview(backend: Backend, token: str | None) -> DeletionPreview:
    """What deleting the account would do (the deletion screen shows it)."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        numbers = list(db.scalars(select(Customer.number).join(
            CustomerLink, CustomerLink.customer_id == Customer.id)
            .where(CustomerLink.account_id == account.id).order_by(Customer.number)))
        contract_numbers = list(db.scalars(select(Contract.number).join(
            ContractLink, ContractLink.contract_id == Contract.id)
            .where(ContractLink.account_id == account.id).order_by(Contract.number)))
        licences = db.scalar(select(func.count()).select_from(LicenceKey).where(
            LicenceKey.redeemed_by_id == account.id)) or 0
        companies = [c.company or c.number for c in db.scalars(
            select(Customer).join(Membership, Membership.customer_id == Customer.id).where(
                Membership.account_id == account.id,
                Membership.state.in_(("active", "pending_approval", "approved", "invited")))
            .order_by(Customer.number))]
        return DeletionPreview(erase_on=_erase_on(backend).date(), customer_numbers=numbers,
                               contracts=contract_numbers, licences=licences,
                               companies=companies, blocked_by=_last_super_admin_of(db, account.id))


def schedule(db: DbSession, backend: Backend, account: Account, deletion: AccountDeletion,
              terminal_id: str | None) -> dt.datetime:
    """Lock the account, end its sessions, mail the cancel link."""
    now = backend.now()
    erase_after = _erase_on(backend)
    deletion.state, deletion.erase_after = "scheduled", erase_after
    deletion.previous_status = account.status
    account.status = PENDING
    sessions.end_all(db, account.id, "deletion", now)
    _code, link = accounts.issue_token(db, backend, account, PURPOSE_CANCEL)  # the link only
    db.execute(update(EmailToken).where(
        EmailToken.account_id == account.id, EmailToken.purpose == PURPOSE_CANCEL,
        EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
    ).values(expires_at=erase_after))
    if account.email:
        mail.enqueue(db, to=account.email, template="account_deletion_scheduled",
                     language=account.language,
                     params={"name": sessions.display_name(account),
                             "link": accounts.public_url(backend, "cancel-deletion", link),
                             "date": format_date(erase_after.date(), account.language)})
    audit.record(db, "account_deletion_scheduled", actor_id=account.id,
                 terminal_id=terminal_id, via=deletion.via, reference=deletion.id, now=now)
    return erase_after


def open_deletion(db: DbSession, account_id: int) -> AccountDeletion | None:
    return db.scalars(select(AccountDeletion).where(
        AccountDeletion.account_id == account_id, AccountDeletion.state.in_(OPEN_STATES))
        .order_by(AccountDeletion.id.desc())).first()


def request_deletion(backend: Backend, token: str | None, password: str, caller: Caller
                     ) -> DeletionResult:
    """The owner deletes the account: password again, the last-super-admin rule, then the wait."""
    with backend.transaction() as db:
        _row, account = owner_with_password(db, backend, token, password)
        account = customer_account(db, account.id, lock=True)
        refuse_last_super_admin(db, account.id)
        if open_deletion(db, account.id) is not None:
            raise Conflict(MSG_ALREADY_PENDING)
        deletion = AccountDeletion(account_id=account.id, state="scheduled", via="self",
                                   requested_at=backend.now(), decided_at=backend.now())
        db.add(deletion)
        db.flush()
        erase_after = schedule(db, backend, account, deletion, caller.terminal_id)
        date = format_date(erase_after.date(), caller.language)
    return DeletionResult(erase_on=erase_after.date(), message=MSG_DELETION_SCHEDULED,
                          params={"date": date})


def _cancel(db: DbSession, backend: Backend, account: Account, terminal_id: str | None,
            via: str) -> None:
    deletion = open_deletion(db, account.id)
    if deletion is None or deletion.state != "scheduled" or account.status != PENDING:
        raise Conflict(MSG_CANCEL_INVALID)
    now = backend.now()
    deletion.state, deletion.decided_at = "cancelled", now
    account.status = deletion.previous_status if deletion.previous_status not in (
        None, PENDING, DELETED) else "active"
    db.execute(update(EmailToken).where(
        EmailToken.account_id == account.id, EmailToken.purpose == PURPOSE_CANCEL,
        EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None)).values(revoked_at=now))
    audit.record(db, "account_deletion_cancelled", actor_id=account.id,
                 terminal_id=terminal_id, via=via, reference=deletion.id, now=now)


def pending_deletion_date(backend: Backend, account_id: int) -> dt.date | None:
    """When a scheduled deletion of the account is carried out (None: none scheduled)."""
    with backend.transaction() as db:
        deletion = open_deletion(db, account_id)
        if deletion is None or deletion.erase_after is None:
            return None
        return deletion.erase_after.date()


def cancel_deletion_login(backend: Backend, identifier: str, password: str, caller: Caller
                          ) -> accounts.LoginResult:
    """Logging in during the wait offers this: the password proves it, the deletion is
    cancelled and the customer is logged in. An account with a second factor never comes
    here (its login asks the code first, then offers ``cancel_deletion_after_code``): the
    password alone must not undo what the owner asked for, so it is refused like a wrong
    one."""
    failed = AuthFailed(accounts.MSG_LOGIN_FAILED, fields={"password": accounts.MSG_LOGIN_FAILED})
    with backend.transaction() as db:
        account = accounts._find_account(db, identifier, ("customer",))
        if account is None or account.status != PENDING or has_factor(db, account.id):
            raise failed
        sessions.check_password_throttled(db, backend, account,
                                          accounts.prepare_password(password or ""),
                                          caller.terminal_id, field="password")
        _cancel(db, backend, account, caller.terminal_id, "login")
    return accounts.login(backend, identifier, password, caller)


def cancel_deletion_after_code(backend: Backend, token: str | None, caller: Caller
                               ) -> accounts.LoginResult:
    """An account with a second factor: its login gave the password and then the right code
    (``second_factor.complete_login`` left the session waiting in ``DELETION``); cancelling
    the deletion makes it a full session."""
    now = backend.now()
    with backend.transaction() as db:
        row, account = pending_step(db, backend, token, DELETION, lock=True)
        if account.status != PENDING:
            raise sessions.SessionExpired(sessions.MSG_EXPIRED, params={"reason": "account"})
        _cancel(db, backend, account, caller.terminal_id, "login")
        finish_login(row, now)
        account.last_login_at = now
        audit.record(db, "login", actor_id=account.id, terminal_id=caller.terminal_id,
                     kind=account.kind, outcome="ok", now=now)
        return accounts.LoginResult(token=token or "", account_id=account.id,
                                    display_name=sessions.display_name(account), kind=account.kind,
                                    language=account.language)


def cancel_deletion_link(backend: Backend, link_token: str, caller: Caller) -> DeletionResult:
    """The link from the mail (``kiosk serve``: /cancel-deletion) cancels the deletion."""
    with backend.transaction() as db:
        found = accounts.live_link_token(db, backend, link_token, backend.now())
        if found is None or found[0].purpose != PURPOSE_CANCEL \
                or not accounts.use_token(db, found[0], backend.now()):
            raise accounts._validation("code", MSG_CANCEL_INVALID)
        _cancel(db, backend, found[1], caller.terminal_id, "link")
    return DeletionResult(message=MSG_DELETION_CANCELLED)
