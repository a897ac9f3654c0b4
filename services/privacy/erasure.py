"""Erasing an account whose deletion wait is over (#16), run by housekeeping (``erase_due``).

The row stays as a tombstone so that ids elsewhere stay valid; its personal fields are emptied
(e-mail address and user name are free for a new registration). Links to customer numbers,
contracts and licences are released, memberships ended, contacts, codes, sessions, throttle
counters and outbox mails removed, and the audit entries by or about the account
pseudonymised (``pseudonymise_audit``: the actor id stays; names, addresses and notes go —
see migration 0009). The company's own records (customer numbers, contracts, merge orders)
stay. Each account is erased in a transaction of its own; only a cancelled deletion stops it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session as DbSession

from db.engine import for_update
from db.models import (
    Account,
    AccountContact,
    AccountDeletion,
    AuditEvent,
    Consent,
    ContractLink,
    CustomerLink,
    EmailToken,
    LicenceKey,
    Membership,
    OutboxMail,
    RecoveryCode,
    SecondFactor,
    Session,
    SupportRequest,
    Throttle,
)
from services import audit
from services.privacy.deletion import DELETED
from services.privacy.document import account_addresses

if TYPE_CHECKING:
    from services.backend import Backend

#: Audit detail keys that may carry a person's name, address or free text.
PERSONAL_DETAILS = frozenset({"note", "name", "email", "new_email", "username", "identifier",
                              "to", "address", "street", "city", "phone", "comment",
                              "subject", "first_name", "last_name"})
#: Audit detail keys that name an account by id (desk actions about a customer's account).
ACCOUNT_DETAILS = ("account", "from_account", "to_account")


def due_deletions(db: DbSession, now: dt.datetime, limit: int) -> list[int]:
    return list(db.scalars(select(AccountDeletion.id).where(
        AccountDeletion.state == "scheduled", AccountDeletion.erase_after <= now)
        .order_by(AccountDeletion.erase_after).limit(limit)))


def _personal_strings(account: Account, addresses: list[str]) -> list[str]:
    values = [account.username, account.email, account.first_name, account.last_name,
              account.street, account.phone, *addresses]
    return [v.casefold() for v in values if v and len(v) >= 3]


def pseudonymise_audit(db: DbSession, account: Account, now: dt.datetime,
                       addresses: list[str]) -> int:
    """Remove names, addresses and notes from the audit entries by or about the account;
    the actor id stays. Allowed by the database exactly once per row (migration 0009)."""
    personal = _personal_strings(account, addresses)

    def scrubbed(details: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in details.items() if k not in PERSONAL_DETAILS and not (
            isinstance(v, str) and any(p in v.casefold() for p in personal))}

    about = or_(*(AuditEvent.details[key].as_integer() == account.id for key in ACCOUNT_DETAILS))
    count = 0
    for condition in (AuditEvent.actor_id == account.id, about):
        for entry in db.scalars(select(AuditEvent).where(
                condition, AuditEvent.pseudonymised_at.is_(None))):
            entry.details = scrubbed(dict(entry.details or {}))
            entry.pseudonymised_at = now
            count += 1
    db.flush()
    return count


def erase(db: DbSession, backend: Backend, deletion_id: int) -> bool:
    """Carry out one due deletion (the caller's transaction); False when no longer due."""
    now = backend.now()
    deletion = db.scalars(for_update(select(AccountDeletion).where(
        AccountDeletion.id == deletion_id), db)).first()
    if deletion is None or deletion.state != "scheduled" or deletion.erase_after is None \
            or deletion.erase_after > now:
        return False
    account = db.scalars(for_update(select(Account).where(
        Account.id == deletion.account_id), db)).first()
    if account is None or account.status == DELETED:
        deletion.state, deletion.erased_at = "erased", now
        return False
    # whatever happened to the account meanwhile (a lock after wrong passwords, say): only a
    # cancellation (the deletion's state) stops the erasure
    aid = account.id
    addresses = account_addresses(db, account)
    pseudonymise_audit(db, account, now, addresses)
    if addresses:
        db.execute(delete(OutboxMail).where(OutboxMail.to.in_(addresses)))
    db.execute(delete(CustomerLink).where(CustomerLink.account_id == aid))
    db.execute(delete(ContractLink).where(ContractLink.account_id == aid))
    db.execute(update(LicenceKey).where(LicenceKey.redeemed_by_id == aid)
               .values(redeemed_by_id=None, redeemed_at=None))
    for membership in db.scalars(select(Membership).where(Membership.account_id == aid)):
        membership.account_id, membership.state = None, "removed"
        membership.email_key, membership.reason = f"erased-{membership.id}", None
    db.execute(delete(Consent).where(Consent.account_id == aid, Consent.customer_id.is_(None)))
    db.execute(update(Consent).where(Consent.account_id == aid).values(account_id=None))
    for request in db.scalars(select(SupportRequest).where(SupportRequest.account_id == aid)):
        request.details, request.subject = {}, None
        if request.status in ("open", "taken"):
            request.status, request.updated_at = "rejected", now
    db.execute(delete(AccountContact).where(AccountContact.account_id == aid))
    db.execute(delete(EmailToken).where(EmailToken.account_id == aid))
    db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == aid))
    db.execute(delete(SecondFactor).where(SecondFactor.account_id == aid))
    db.execute(delete(Session).where(Session.account_id == aid))
    db.execute(delete(Throttle).where(Throttle.scope == "account", Throttle.key == f"a{aid}"))
    for column in ("username", "username_key", "email", "email_key", "password_hash",
                   "customer_type", "salutation", "first_name", "last_name", "street",
                   "postal_code", "city", "country", "phone", "pending_customer_number",
                   "locked_until", "verified_at", "last_login_at", "password_changed_at",
                   "umbrella_organisation", "delivery_method", "payment_method", "iban", "bic"):
        setattr(account, column, None)
    account.status, account.failed_logins = DELETED, 0
    deletion.state, deletion.erased_at = "erased", now
    audit.record(db, "account_erased", actor_id=aid, reference=deletion.id, now=now)
    return True


def erase_due(backend: Backend, *, dry_run: bool = False) -> int:
    """Erase every account whose wait is over, one transaction each; returns how many."""
    with backend.transaction() as db:
        due = due_deletions(db, backend.now(), 100_000)
    if dry_run:
        return len(due)
    done = 0
    for deletion_id in due:
        with backend.transaction() as db:
            done += erase(db, backend, deletion_id)
    return done
