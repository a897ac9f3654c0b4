"""What the organisation flows share: roles, membership states and code purposes, the messages
of refused admin actions, ``Result``, and the helpers that look up or change one company's
memberships (``_admin`` checks the session's admin rights and serialises changes per company;
``_stub_and_membership`` finds an applicant's stub account; ``_drop_stub`` forgets it again;
``_notify_super_admins`` mails the people who decide; ``_issue`` a mailed code).

The mailed codes themselves are those of the accounts service (``services.accounts.tokens``):
digests bound to account and purpose, single use, five tries, carried counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.engine import lock_rows
from db.models import Account, Consent, Customer, EmailToken, Membership, Session
from services import audit, mail, sessions
from services.accounts.common import MSG_FORM, raise_after_commit
from services.accounts.forms import field_errors
from services.accounts.tokens import issue_token
from services.errors import N_, NotAllowed, ValidationFailed
from services.normalize import email_key

if TYPE_CHECKING:
    from services.backend import Backend


ROLES = ("super_admin", "admin", "member")
ADMIN_ROLES = ("super_admin", "admin")
PURPOSE_CONFIRM = "org_confirm"
PURPOSE_COMPLETE = "org_complete"
PURPOSE_FINISH = "org_finish"
COMPLETE_VALID = dt.timedelta(days=14)
#: States in which a person is (or is becoming) part of the company.
LIVE_STATES = ("pending_email", "pending_approval", "approved", "invited", "active")
#: Account states of a person whose organisation registration is not complete (no login).
STUB_STATES = ("pending_approval", "invited")
#: States shown in the member list.
MEMBER_STATES = ("approved", "invited", "active")

MSG_PRIVACY = N_("Please confirm that you have read and accept the privacy statement.")
MSG_NOT_ADMIN = N_("Only the admins of a company account can do this.")
MSG_NOT_SUPER_ADMIN = N_("Only a super admin of the company account can do this.")
MSG_NOT_FOUND = N_("This entry no longer exists. Please reload the list.")


def _validate(model: type[BaseModel], data: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = field_errors(exc)
        if "privacy" in errors and errors["privacy"] != MSG_PRIVACY:
            errors["privacy"] = MSG_PRIVACY
        raise ValidationFailed(MSG_FORM, fields=errors) from None


class Result(BaseModel):
    message: str
    params: dict[str, Any] = {}


def _name(account: Account | None, fallback: str = "") -> str:
    return sessions.display_name(account) if account is not None else fallback


def _company_name(customer: Customer) -> str:
    return customer.company or " ".join(
        p for p in (customer.first_name, customer.last_name) if p) or customer.number


def _lock_company(db: DbSession, backend: Backend, customer_id: int) -> None:
    """Serialise changes to one company's members: FOR UPDATE on PostgreSQL, the write lock
    (a no-op update) on SQLite."""
    db.execute(lock_rows(db, Customer, Customer.id == customer_id))


def _issue(db: DbSession, backend: Backend, account: Account, purpose: str) -> tuple[str, str]:
    """A mailed code (and link token); completion codes stay valid for ``COMPLETE_VALID``."""
    code, link = issue_token(db, backend, account, purpose)
    if purpose == PURPOSE_COMPLETE:
        db.flush()
        db.execute(update(EmailToken).where(
            EmailToken.account_id == account.id, EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
        ).values(expires_at=backend.now() + COMPLETE_VALID))
    return code, link


def _super_admins(db: DbSession, customer_id: int) -> list[Account]:
    return list(db.scalars(select(Account).join(Membership, Membership.account_id == Account.id)
                           .where(Membership.customer_id == customer_id,
                                  Membership.role == "super_admin",
                                  Membership.state == "active",
                                  Account.status == "active")
                           .order_by(Account.id)))


def _record_super_admins(db: DbSession, customer_id: int) -> list[str]:
    """Addresses of super admins known from the records without an active portal account."""
    return list(db.scalars(select(Membership.email_key).where(
        Membership.customer_id == customer_id, Membership.role == "super_admin",
        Membership.state.in_(("approved", "invited")),
    ).order_by(Membership.id)))


def _notify_super_admins(db: DbSession, backend: Backend, customer: Customer, template: str,
                         params: dict[str, Any], *, records_template: str | None = None) -> int:
    """Mail the company's super admins; with ``records_template`` also those known only from
    the records (how to create an account or log in to decide). Returns how many were told."""
    admins = _super_admins(db, customer.id)
    common = {"company": _company_name(customer), "number": customer.number, **params}
    for admin in admins:
        if admin.email:
            mail.enqueue(db, to=admin.email, template=template, language=admin.language,
                         params={"name": _name(admin), **common})
    addresses = _record_super_admins(db, customer.id) if records_template else []
    for address in addresses:
        mail.enqueue(db, to=address, template=records_template or "",
                     language=backend.settings.language,
                     params={"address": address, "url": backend.settings.public_url, **common})
    return len(admins) + len(addresses)


def _drop_stub(db: DbSession, membership: Membership) -> None:
    """Forget the stub account of an applicant who never completed the registration."""
    account_id = membership.account_id
    membership.account_id = None
    if account_id is None:
        return
    db.flush()
    account = db.get(Account, account_id)
    if account is None or account.status not in STUB_STATES:
        return
    if db.scalar(select(Membership.id).where(Membership.account_id == account_id)):
        return
    db.execute(delete(EmailToken).where(EmailToken.account_id == account_id))
    db.execute(delete(Consent).where(Consent.account_id == account_id))
    db.execute(delete(Session).where(Session.account_id == account_id))
    db.delete(account)


def _stub_and_membership(db: DbSession, address: str) -> tuple[Account, Membership] | None:
    """The stub account of an applicant and its live membership, else None."""
    account = db.scalars(select(Account).where(Account.email_key == email_key(address))).first()
    if account is None or account.status not in STUB_STATES:
        return None
    membership = db.scalars(select(Membership).where(
        Membership.account_id == account.id,
        Membership.state.in_(("pending_email", "approved", "invited", "pending_approval")),
    ).order_by(Membership.id.desc())).first()
    return (account, membership) if membership is not None else None


def _reuse_or_new(db: DbSession, customer_id: int, key: str) -> Membership:
    """The company's row for this address if it is over (rejected, expired, removed) or was
    imported without an account, reset; else a new row (the unique constraint guards a live
    one)."""
    row = db.scalars(select(Membership).where(Membership.customer_id == customer_id,
                                              Membership.email_key == key)).first()
    if row is not None and row.state in LIVE_STATES and row.account_id is not None:
        raise IntegrityError("membership", None, Exception("live membership"))
    if row is None:
        row = Membership(customer_id=customer_id, email_key=key)
        db.add(row)
    row.reason = None
    row.decided_by_id = None
    row.decided_at = None
    row.reminded_at = None
    return row


def _admin(db: DbSession, backend: Backend, token: str | None, customer_id: int,
           roles: tuple[str, ...] = ADMIN_ROLES, *, recent: bool = False, lock: bool = False
           ) -> tuple[Session, Account, Membership]:
    """The session's account and its active admin membership of ``customer_id``. With
    ``lock``, changes to the company's members are serialised first, so the admin's own
    membership is read after any change that committed meanwhile."""
    row, account = (sessions.live_recent if recent else sessions.live)(db, backend, token)
    if lock:
        _lock_company(db, backend, customer_id)
    membership = db.scalars(select(Membership).where(
        Membership.customer_id == customer_id, Membership.account_id == account.id,
        Membership.state == "active").execution_options(populate_existing=True)).first()
    if membership is None or membership.role not in roles:
        msg = MSG_NOT_SUPER_ADMIN if roles == ("super_admin",) else MSG_NOT_ADMIN
        audit.record(db, "org_refused", outcome="forbidden", actor_id=account.id,
                     customer_id=customer_id, terminal_id=row.terminal_id, now=backend.now())
        raise_after_commit(db, NotAllowed(msg))
    assert membership is not None
    return row, account, membership
