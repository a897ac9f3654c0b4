"""Members and roles of a company account, for its admins: ``my_organisations`` (the companies
the session administers), ``members``, ``add_contact`` (the second way in: an admin enters
name, e-mail and role; the person gets the completion mail, or joins at once with an existing
account), ``change_role`` and ``remove_member`` (super admin roles are given and taken by super
admins only; the last super admin stays; removal ends the member's sessions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Customer, Membership
from services import audit, mail, sessions
from services.accounts.forms import AddressChecks, field_problem, normalize_email
from services.caller import Caller
from services.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from services.normalize import email_key, text_input
from services.organisations.common import (
    ADMIN_ROLES,
    MEMBER_STATES,
    MSG_NOT_FOUND,
    MSG_NOT_SUPER_ADMIN,
    PURPOSE_COMPLETE,
    ROLES,
    STUB_STATES,
    Result,
    _admin,
    _company_name,
    _drop_stub,
    _issue,
    _name,
    _reuse_or_new,
    _validate,
)
from services.organisations.completion import _mail_complete

if TYPE_CHECKING:
    from services.backend import Backend


MSG_ROLE = N_("Please choose a role.")
MSG_ALREADY_MEMBER = N_("This person is already a member or has a pending request.")
MSG_ADDED = N_("{name} has been added. We have sent an e-mail to {email}.")
MSG_ROLE_CHANGED = N_("The role of {name} is now: {role}.")
MSG_REMOVED = N_("{name} has been removed from the company account.")
MSG_LAST_SUPER_ADMIN = N_("The last super admin of a company account cannot be removed or "
                          "changed. Make another member super admin first.")

ROLE_LABELS = {"super_admin": N_("Super admin"), "admin": N_("Admin"), "member": N_("Member")}
STATE_LABELS = {"active": N_("Active"), "invited": N_("Invited"),
                "approved": N_("Approved, completion pending")}


class LastSuperAdmin(Conflict):
    code = "last_super_admin"


class ContactInput(AddressChecks):
    """A contact an admin adds directly."""

    first_name: str
    last_name: str
    email: str
    role: str = "member"

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        return normalize_email(value)

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> str:
        if value not in ROLES:
            raise field_problem(MSG_ROLE)
        return str(value)


class Organisation(BaseModel):
    customer_id: int
    number: str
    company: str
    role: str


class Member(BaseModel):
    id: int
    name: str
    email: str
    role: str
    state: str
    since: dt.datetime
    is_self: bool = False


def my_organisations(backend: Backend, token: str | None) -> list[Organisation]:
    """The company accounts the session's account administers (super admin or admin)."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        rows = db.execute(select(Customer, Membership.role).join(
            Membership, Membership.customer_id == Customer.id).where(
            Membership.account_id == account.id, Membership.state == "active",
            Membership.role.in_(ADMIN_ROLES)).order_by(Customer.company, Customer.id)).all()
        return [Organisation(customer_id=c.id, number=c.number, company=_company_name(c),
                             role=role) for c, role in rows]


def members(backend: Backend, token: str | None, customer_id: int) -> list[Member]:
    """Members of the company (active, invited, approved), super admins first."""
    order = {role: i for i, role in enumerate(ROLES)}
    with backend.transaction() as db:
        _row, me, _m = _admin(db, backend, token, customer_id)
        rows = db.execute(select(Membership, Account).outerjoin(
            Account, Account.id == Membership.account_id).where(
            Membership.customer_id == customer_id,
            Membership.state.in_(MEMBER_STATES))).all()
        result = [Member(id=m.id, name=_name(a), email=(a.email if a else None) or m.email_key,
                         role=m.role, state=m.state, since=m.decided_at or m.created_at,
                         is_self=a is not None and a.id == me.id) for m, a in rows]
    return sorted(result, key=lambda m: (order.get(m.role, 9), m.name.casefold(), m.id))


@text_input()
def add_contact(backend: Backend, token: str | None, customer_id: int,
                data: Mapping[str, Any], caller: Caller) -> Result:
    """An admin adds a contact (name, e-mail, role): it gets the completion mail, or — with an
    existing account — joins at once."""
    form: ContactInput = _validate(ContactInput, data)
    now = backend.now()
    key = email_key(form.email)
    try:
        with backend.transaction() as db:
            row, admin, mine = _admin(db, backend, token, customer_id, recent=True, lock=True)
            if form.role == "super_admin" and mine.role != "super_admin":
                raise NotAllowed(MSG_NOT_SUPER_ADMIN, fields={"role": MSG_NOT_SUPER_ADMIN})
            customer = db.get(Customer, customer_id)
            assert customer is not None
            try:
                membership = _reuse_or_new(db, customer_id, key)
            except IntegrityError:
                raise ValidationFailed(MSG_ALREADY_MEMBER,
                                       fields={"email": MSG_ALREADY_MEMBER}) from None
            membership.role = form.role
            membership.decided_by_id = admin.id
            membership.decided_at = now
            membership.created_at = now
            account = db.scalars(select(Account).where(Account.email_key == key)).first()
            if account is not None and account.status not in STUB_STATES:
                membership.account_id = account.id
                membership.state = "active"
                mail.enqueue(db, to=account.email or form.email, template="org_added",
                             language=account.language,
                             params={"name": _name(account), "company": _company_name(customer)})
            elif account is not None:  # a stub of another company's request
                raise ValidationFailed(MSG_ALREADY_MEMBER, fields={"email": MSG_ALREADY_MEMBER})
            else:
                account = Account(kind="customer", email=form.email, email_key=key,
                                  first_name=form.first_name, last_name=form.last_name,
                                  customer_type="company", language=caller.language,
                                  status="invited", created_at=now)
                db.add(account)
                db.flush()
                membership.account_id = account.id
                membership.state = "invited"
                code, link = _issue(db, backend, account, PURPOSE_COMPLETE)
                _mail_complete(db, backend, account, customer, code, link)
            audit.record(db, "org_contact_added", actor_id=admin.id, customer_id=customer_id,
                         terminal_id=row.terminal_id, role=form.role, state=membership.state,
                         now=now)
            name = f"{form.first_name} {form.last_name}"
    except IntegrityError:
        raise ValidationFailed(MSG_ALREADY_MEMBER, fields={"email": MSG_ALREADY_MEMBER}) from None
    return Result(message=MSG_ADDED, params={"name": name, "email": form.email})


def _target(db: DbSession, customer_id: int, membership_id: int) -> Membership:
    membership = db.scalars(select(Membership).where(
        Membership.id == membership_id, Membership.customer_id == customer_id,
        Membership.state.in_(MEMBER_STATES)).execution_options(populate_existing=True)).first()
    if membership is None:
        raise NotFound(MSG_NOT_FOUND)
    return membership


def _other_super_admins(db: DbSession, customer_id: int, membership_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Membership).where(
        Membership.customer_id == customer_id, Membership.role == "super_admin",
        Membership.state == "active", Membership.id != membership_id)) or 0


@text_input()
def change_role(backend: Backend, token: str | None, customer_id: int, membership_id: int,
                role: str, caller: Caller) -> Result:
    """Set a member's role. Super admin roles are given and taken by super admins only; the
    last active super admin keeps the role."""
    if role not in ROLES:
        raise ValidationFailed(MSG_ROLE, fields={"role": MSG_ROLE})
    now = backend.now()
    with backend.transaction() as db:
        row, admin, mine = _admin(db, backend, token, customer_id, recent=True, lock=True)
        target = _target(db, customer_id, membership_id)
        if "super_admin" in (role, target.role) and mine.role != "super_admin":
            raise NotAllowed(MSG_NOT_SUPER_ADMIN)
        if target.role == "super_admin" and role != "super_admin" and \
                _other_super_admins(db, customer_id, target.id) == 0:
            raise LastSuperAdmin(MSG_LAST_SUPER_ADMIN)
        before = target.role
        target.role = role
        account = db.get(Account, target.account_id) if target.account_id else None
        audit.record(db, "org_role_changed", actor_id=admin.id, customer_id=customer_id,
                     terminal_id=row.terminal_id, membership_id=target.id, before=before,
                     after=role, now=now)
        name = _name(account, target.email_key)
    return Result(message=MSG_ROLE_CHANGED, params={"name": name, "role": role})


def remove_member(backend: Backend, token: str | None, customer_id: int, membership_id: int,
                  caller: Caller) -> Result:
    """Remove a member: its sessions end; the last super admin cannot be removed."""
    now = backend.now()
    with backend.transaction() as db:
        row, admin, mine = _admin(db, backend, token, customer_id, recent=True, lock=True)
        target = _target(db, customer_id, membership_id)
        if target.role == "super_admin" and mine.role != "super_admin":
            raise NotAllowed(MSG_NOT_SUPER_ADMIN)
        if target.role == "super_admin" and target.state == "active" and \
                _other_super_admins(db, customer_id, target.id) == 0:
            raise LastSuperAdmin(MSG_LAST_SUPER_ADMIN)
        account = db.get(Account, target.account_id) if target.account_id else None
        name = _name(account, target.email_key)
        target.state = "removed"
        target.decided_by_id = admin.id
        target.decided_at = now
        ended = sessions.end_all(db, account.id, "membership_removed", now) if account else 0
        if account is not None and account.status in STUB_STATES:
            _drop_stub(db, target)
        audit.record(db, "org_member_removed", actor_id=admin.id, customer_id=customer_id,
                     terminal_id=row.terminal_id, membership_id=target.id, sessions=ended,
                     now=now)
    return Result(message=MSG_REMOVED, params={"name": name})
