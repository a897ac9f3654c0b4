"""SQLAlchemy 2 typed models for the whole Kundenkiosk domain.

The system of record (customers, codes, contracts, products, licence keys, organisations) is
imported by the back office; the portal side (accounts, links, consents, requests, merges,
audit, outbox) is written by the services. Constraints guard the invariants of DESIGN.md:
a customer number belongs to at most one account, an account holds one number per customer
type, a licence key is redeemed once, merged records are kept with a pointer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON}


# --------------------------------------------------------------------------- system of record


class Customer(Base):
    """A customer record of the back office, identified by its customer number."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(32), default="private")
    company: Mapped[str | None] = mapped_column(String(200))
    salutation: Mapped[str | None] = mapped_column(String(40))
    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2), default="DE")
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    # "Kundenverwaltung" (#5, guide 001): gender, a different recipient, the office phone.
    gender: Mapped[str | None] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(200))
    phone_work: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    account_number: Mapped[str | None] = mapped_column(String(20))
    bank_code: Mapped[str | None] = mapped_column(String(12))
    # argon2id hash of the customer-number password (proves ownership in a merge).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Folded last name / company (lower case, umlauts spelled out) for tolerant search.
    search_name: Mapped[str | None] = mapped_column(String(200), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    merged_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    merged_into: Mapped[Customer | None] = relationship(remote_side=[id])

    __table_args__ = (
        Index("ix_customer_postal_code", "postal_code"),
        Index("ix_customer_email", "email"),
    )


class ActivationCode(Base):
    """A *Freischaltcode* for one customer number, stored only as a keyed digest."""

    __tablename__ = "activation_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("customer_id", "code_digest"),)


class Product(Base):
    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # licence | download | journal
    access_url: Mapped[str | None] = mapped_column(String(500))
    instructions: Mapped[str | None] = mapped_column(Text)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)


class Contract(Base):
    """A contract or subscription (Abo) of a customer number."""

    __tablename__ = "contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    abo_number: Mapped[str | None] = mapped_column(String(40), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    product: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)  # None: "unbefristet"
    status: Mapped[str] = mapped_column(String(20), default="active")


class LicenceKey(Base):
    """A licence (online) key, stored only as a keyed digest; redeemed exactly once."""

    __tablename__ = "licence_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    redeemed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    redeemed_at: Mapped[dt.datetime | None]
    # The customer number the licence belongs to, once known (moves with a merge).
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)


# --------------------------------------------------------------------------- portal side


class Account(Base):
    """A portal account: customers, and (kind agent/supervisor) service-desk agents."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="customer")  # customer|agent|supervisor
    username: Mapped[str | None] = mapped_column(String(120))
    username_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    email_key: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    customer_type: Mapped[str | None] = mapped_column(String(32))
    salutation: Mapped[str | None] = mapped_column(String(40))
    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(5), default="de")
    # unverified | active | pending_approval | invited | locked | disabled
    status: Mapped[str] = mapped_column(String(20), default="unverified")
    # Customer number given at registration, linked once the e-mail is confirmed.
    pending_customer_number: Mapped[str | None] = mapped_column(String(32))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime | None]
    # "Meine Kundendaten" (#4): umbrella organisation, delivery and payment method.
    umbrella_organisation: Mapped[str | None] = mapped_column(String(200))
    delivery_method: Mapped[str | None] = mapped_column(String(16))  # email | post
    payment_method: Mapped[str | None] = mapped_column(String(16))  # invoice | direct_debit
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))


class AccountContact(Base):
    """A further phone number or e-mail address of an account (kind phone | email)."""

    __tablename__ = "account_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(8))
    label: Mapped[str | None] = mapped_column(String(16))  # phone: landline|mobile|work|fax
    value: Mapped[str] = mapped_column(String(254))
    # E.164 for phones, the folded address for e-mail: one entry per account and value.
    value_key: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "kind", "value_key"),)


class EmailToken(Base):
    """A one-time code (and link) sent by mail: confirmation, reset, e-mail change, invitation."""

    __tablename__ = "email_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))
    code_digest: Mapped[str] = mapped_column(String(64))
    link_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(254))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class Session(Base):
    """A server-side session. The random id is handed to the terminal; only its digest is kept."""

    __tablename__ = "session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    # Set when a contract partner logged in with a customer number and its password.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    idle_timeout_s: Mapped[int] = mapped_column(Integer)
    absolute_expires_at: Mapped[dt.datetime]
    reauth_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None] = mapped_column(index=True)  # retention (#16)
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    # #15: set while the login waits for its second step ("code", "enrol", or "decoy" after a
    # wrong password); such a session serves nothing until services.second_factor clears it.
    second_factor: Mapped[str | None] = mapped_column(String(8))


class SecondFactor(Base):
    """#15: an account's TOTP secret, sealed with a key derived from the installation secret
    (``services.secretbox``), never in plain text. ``confirmed_at`` is NULL while enrolling;
    ``last_step`` is the newest time step used (a step is accepted once, atomically)."""

    __tablename__ = "second_factor"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"),
                                            unique=True)
    secret_sealed: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[dt.datetime | None]
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """#15: a one-time recovery code of an account's second factor, as a keyed digest."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"),
                                            index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "code_digest"),)


class CustomerLink(Base):
    """Account ↔ customer number. One account per number; one number per type per account."""

    __tablename__ = "customer_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    customer_type: Mapped[str] = mapped_column(String(32))
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    linked_by: Mapped[str] = mapped_column(String(24), default="code")

    __table_args__ = (UniqueConstraint("account_id", "customer_type"),)


class ContractLink(Base):
    """Account ↔ contract; a contract is linked to at most one account."""

    __tablename__ = "contract_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), unique=True)
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Keyed digest of the objection code mailed to the customer on record (#5).
    objection_digest: Mapped[str | None] = mapped_column(String(64), unique=True)


class Membership(Base):
    """Membership of a person in an organisation (a customer record of type company)."""

    __tablename__ = "membership"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    email_key: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16), default="member")  # super_admin|admin|member
    # pending_email | pending_approval | approved | rejected | expired | invited | active | removed
    state: Mapped[str] = mapped_column(String(20), default="active")
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("customer_id", "email_key"),
        Index("ix_membership_customer_state", "customer_id", "state", "created_at"),
        Index("ix_membership_state_created", "state", "created_at"),  # #7 housekeeping
    )


class Consent(Base):
    """Consent history (terms, privacy, marketing, advertising). Append-only, never overwritten."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # terms | privacy | marketing | advertising
    granted: Mapped[bool] = mapped_column(Boolean)
    text_version: Mapped[str] = mapped_column(String(24))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SupportRequest(Base):
    """A request for the service desk (link conflicts, address review, blocked merge, …)."""

    __tablename__ = "support_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|taken|resolved|rejected
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    resolution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_support_request_status_kind", "status", "kind"),
                      Index("ix_support_request_status_updated", "status", "updated_at"))


class RequestComment(Base):
    __tablename__ = "request_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("support_request.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MergeOrder(Base):
    """A merge of two customer numbers; executed in one transaction."""

    __tablename__ = "merge_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    kept_customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    merged_customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    take_over: Mapped[bool] = mapped_column(Boolean, default=False)
    differences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="done")  # done | reversed
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reversed_at: Mapped[dt.datetime | None]
    reversed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))


class Feedback(Base):
    """"War dieser Artikel hilfreich?" — feedback on a help article."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    article: Mapped[str] = mapped_column(String(64), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Throttle(Base):
    """Counters against guessing, per scope (account, customer, contract, terminal, …)."""

    __tablename__ = "throttle"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_failure_at: Mapped[dt.datetime | None]
    blocked_until: Mapped[dt.datetime | None]
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("action", "scope", "key"),)


class AuditEvent(Base):
    """Append-only audit log. Never a secret in it (the migration forbids UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(48), index=True)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set once when the actor's account was erased (#16): personal details removed, the
    # actor id kept. The triggers of migration 0009 allow exactly this one update.
    pseudonymised_at: Mapped[dt.datetime | None]

    # the installation-wide counters of services.metrics count by (event, outcome)
    __table_args__ = (Index("ix_audit_log_event_outcome", "event", "outcome"),)


class AuditPurgeWindow(Base):
    """The only way to delete audit rows (#16, migration 0009): the retention run inserts a
    row with the cut-off inside its own transaction, the delete trigger lets through only
    rows older than it, and the run removes the row again before it commits."""

    __tablename__ = "audit_purge_window"

    id: Mapped[int] = mapped_column(primary_key=True)
    purge_before: Mapped[dt.datetime]


class AccountDeletion(Base):
    """A request to delete an account (#16): waits ``deletion_wait_days``, then erased.

    state: awaiting_confirmation (started at the desk, a supervisor must confirm) |
    scheduled (account locked, erased after ``erase_after``) | cancelled | rejected | erased.
    """

    __tablename__ = "account_deletion"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    state: Mapped[str] = mapped_column(String(24))
    via: Mapped[str] = mapped_column(String(8))  # self | desk
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("support_request.id"))
    # The account's status before it was locked for the deletion (restored on cancel).
    previous_status: Mapped[str | None] = mapped_column(String(20))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    erase_after: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    erased_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_account_deletion_state_erase", "state", "erase_after"),)


class MetricCounter(Base):
    """What rows deleted from ``audit_log`` and ``outbox`` had counted (migration 0011).

    Delete triggers fold every deleted row in here, in the deleting transaction, so the
    counters of ``services.metrics`` (live rows + folded) never go down when retention purges.
    """

    __tablename__ = "metric_counter"

    event: Mapped[str] = mapped_column(String(48), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class OutboxMail(Base):
    """A mail written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(5), default="de")
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_pending", "sent_at", "next_attempt_at"),
                      Index("ix_outbox_to", "to"))  # the outbox of an erased account (#16)


# --------------------------------------------------------------------------- back office (#9)
# Prefix search as you type, answered by indexes (migration 0007). PostgreSQL answers
# ``LIKE 'p%'`` only from ``text_pattern_ops`` indexes (whatever the database collation);
# SQLite compares bytewise and answers its range scans (``col >= p AND col < p + U+10FFFF``)
# from plain indexes: there the unique/plain indexes that already exist serve, so the pattern
# copies of those columns are PostgreSQL-only (``ddl_if``); the postal code and the lower-cased
# e-mail have no other index and get one on both databases.
Index("ix_customer_email_lower", func.lower(Customer.email).label("email_lower"),
      postgresql_ops={"email_lower": "text_pattern_ops"})
Index("ix_customer_postal_code_pattern", Customer.postal_code,
      postgresql_ops={"postal_code": "text_pattern_ops"})
for _name, _column in (
    ("ix_customer_number_pattern", Customer.number),
    ("ix_customer_search_name_pattern", Customer.search_name),
    ("ix_contract_number_pattern", Contract.number),
    ("ix_account_email_key_pattern", Account.email_key),
    ("ix_account_username_key_pattern", Account.username_key),
):
    Index(_name, _column, postgresql_ops={_column.key: "text_pattern_ops"}).ddl_if(
        dialect="postgresql")


def applies_to(index: Index, dialect: str) -> bool:
    """Whether ``index`` exists on ``dialect`` (indexes limited with ``ddl_if``)."""
    condition = getattr(index, "_ddl_if", None)
    return condition is None or condition.dialect in (None, dialect)


metadata = Base.metadata
