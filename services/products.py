""""Meine Produkte": redeem an online/licence key (guide 002) and list what an account owns.

Key format (checked before the database is asked): after ``crypto.normalize_key`` (NFKC,
upper case, spaces/dashes/dots removed) a key has exactly ``KEY_LENGTH`` = 16 characters from
``KEY_ALPHABET`` = A–Z and 0–9, shown as 4 groups of 4 (``XXXX-XXXX-XXXX-XXXX``). The
scheme has no check character (the imported keys of the publisher carry none), so length and
alphabet are all that can be checked locally. Keys are stored only as keyed digests
(``digester.digest("licence", normalized)``); the key itself is never logged.

Outcomes of ``redeem_key``:

* unknown key → one neutral message (``MSG_UNKNOWN``); a key redeemed by someone else → ``MSG_TAKEN``
* a key this account redeemed before → a kind note (``MSG_ALREADY_YOURS``), not a failure;
* an expired key (``valid_until`` before today) → ``MSG_EXPIRED``;
* a key of a withdrawn product → ``MSG_WITHDRAWN``.

Every refused key (all but "already yours") counts against the account (``REDEEM_ACCOUNT``:
at most 10 per hour) and the terminal (``REDEEM_TERMINAL``); a wait is explained in minutes.
Exactly once: the key is taken with ``UPDATE … WHERE id = :id AND redeemed_by_id IS NULL``;
a row count of 0 means another terminal won the race.
"""

from __future__ import annotations

import datetime as dt
import math
import string
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session as DbSession

from db.models import CustomerLink, LicenceKey, Product
from services import audit, sessions, throttle
from services.caller import Caller
from services.crypto import normalize_key
from services.errors import N_, Conflict, DomainError, Throttled, ValidationFailed
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

KEY_LENGTH = 16
KEY_GROUP = 4
KEY_ALPHABET = string.ascii_uppercase + string.digits
KINDS = ("licence", "download", "journal")

#: At most 10 refused keys per account per hour; then a wait of one hour from the last.
REDEEM_ACCOUNT = throttle.Policy(max_failures=10, window=dt.timedelta(hours=1),
                                 base_wait=dt.timedelta(hours=1), max_wait=dt.timedelta(hours=1))
#: A kiosk where 30 keys were refused within an hour (many accounts tried) waits 15 minutes,
#: doubling up to an hour.
REDEEM_TERMINAL = throttle.Policy(max_failures=30, window=dt.timedelta(hours=1),
                                  base_wait=dt.timedelta(minutes=15),
                                  max_wait=dt.timedelta(hours=1))
ACTION = "licence_key"

MSG_REQUIRED = N_("Please enter your online key.")
MSG_LENGTH = N_("An online key has 16 letters and digits (4 groups of 4). Please check your "
                "entry.")
MSG_ALPHABET = N_("An online key contains only the letters A to Z and the digits 0 to 9. "
                  "Please check your entry.")
MSG_UNKNOWN = N_("This online key cannot be redeemed. Please check your entry.")
MSG_ALREADY_YOURS = N_("You have already redeemed this key. The product is listed under "
                       "\"{section}\".")
MSG_TAKEN = N_("This online key has already been redeemed by another user account. If it "
               "is yours, please contact our customer service.")
MSG_EXPIRED = N_("This online key expired on {date}. Please contact our customer service.")
MSG_WITHDRAWN = N_("The product of this key is no longer available. Please contact our "
                   "customer service.")
MSG_WAIT_ACCOUNT = N_("Too many keys could not be redeemed. For your protection, please wait "
                      "{minutes} minutes and try again.")
MSG_WAIT_TERMINAL = N_("Too many keys could not be redeemed at this terminal. Please wait "
                       "{minutes} minutes and try again.")
MSG_REDEEMED = N_("The licence is activated: \"{name}\" is now listed under \"{section}\".")

SECTIONS = {
    "licence": N_("My licences"),
    "download": N_("My downloads"),
    "journal": N_("Journals"),
}


class KeyFormatError(ValidationFailed):
    code = "key_format"


class KeyRejected(DomainError):
    """Unknown, expired, withdrawn (or someone else's) key. ``code`` tells which."""

    code = "key_rejected"


class AlreadyRedeemed(Conflict):
    code = "already_yours"


class RedeemResult(BaseModel):
    sku: str
    name: str
    kind: str
    section: str
    activated_at: dt.datetime
    valid_until: dt.date | None
    message: str = MSG_REDEEMED
    params: dict[str, str] = {}


class OwnedProduct(BaseModel):
    id: int
    sku: str
    name: str
    kind: str
    activated_at: dt.datetime | None
    valid_until: dt.date | None
    access_url: str | None
    instructions: str | None
    withdrawn: bool = False


class ProductLists(BaseModel):
    licences: list[OwnedProduct] = []
    downloads: list[OwnedProduct] = []
    journals: list[OwnedProduct] = []

    def of(self, kind: str) -> list[OwnedProduct]:
        return {"licence": self.licences, "download": self.downloads,
                "journal": self.journals}.get(kind, [])


def check_format(raw: str) -> str:
    """The normalised key, or ``KeyFormatError`` (no database involved)."""
    key = normalize_key(raw or "")
    if not key:
        raise KeyFormatError(MSG_REQUIRED, fields={"key": MSG_REQUIRED})
    if any(ch not in KEY_ALPHABET for ch in key):
        raise KeyFormatError(MSG_ALPHABET, fields={"key": MSG_ALPHABET})
    if len(key) != KEY_LENGTH:
        raise KeyFormatError(MSG_LENGTH, fields={"key": MSG_LENGTH})
    return key


def group_key(raw: str) -> str:
    """The key as typed so far, grouped ``XXXX-XXXX-…`` (for the masked input)."""
    key = "".join(ch for ch in normalize_key(raw or "") if ch in KEY_ALPHABET)[:KEY_LENGTH]
    return "-".join(key[i:i + KEY_GROUP] for i in range(0, len(key), KEY_GROUP))


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _commit_and_raise(db: DbSession, error: DomainError) -> None:
    """Keep the counters and the audit entry (a raise inside the transaction would undo them)."""
    db.commit()
    raise error


def _refuse(db: DbSession, account_id: int, terminal: str, now: dt.datetime,
            caller: Caller, outcome: str, error: DomainError, sku: str | None = None) -> None:
    acc = throttle.fail(db, ACTION, "account", f"a{account_id}", REDEEM_ACCOUNT, now)
    throttle.fail(db, ACTION, "terminal", terminal, REDEEM_TERMINAL, now)
    audit.record(db, "licence_redeem", outcome=outcome, actor_id=account_id,
                 terminal_id=caller.terminal_id, product_sku=sku, failures=acc.failures,
                 now=now)
    _commit_and_raise(db, error)


@text_input()
def redeem_key(backend: Backend, token: str | None, key: str, caller: Caller) -> RedeemResult:
    """Redeem an online key for the logged-in account. See the module docstring."""
    normalized = check_format(key)
    digest = backend.digester.digest("licence", normalized)
    now = backend.now()
    terminal = (caller.terminal_id or "unknown")[:128]
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        account_id = account.id
        # two plain checks: each a cached statement on the unique index (cheaper than
        # ``check_many``'s OR, which SQLAlchemy compiles anew on every call)
        acc_state = throttle.check(db, ACTION, "account", f"a{account_id}", REDEEM_ACCOUNT, now)
        term_state = throttle.check(db, ACTION, "terminal", terminal, REDEEM_TERMINAL, now)
        for state, msgid in ((acc_state, MSG_WAIT_ACCOUNT), (term_state, MSG_WAIT_TERMINAL)):
            if not state.allowed(now):
                audit.record(db, "licence_redeem", outcome="throttled", actor_id=account_id,
                             terminal_id=caller.terminal_id, now=now)
                _commit_and_raise(db, Throttled(
                    msgid, fields={"key": msgid},
                    params={"minutes": _minutes(state.wait_seconds(now))}))
        owner_customer = (select(CustomerLink.customer_id)
                          .where(CustomerLink.account_id == account_id)
                          .order_by(CustomerLink.id).limit(1).scalar_subquery())
        found = db.execute(
            select(LicenceKey.id, LicenceKey.redeemed_by_id, LicenceKey.valid_until,
                   Product.sku, Product.name, Product.kind, Product.withdrawn,
                   owner_customer)
            .join(Product, Product.id == LicenceKey.product_id)
            .where(LicenceKey.key_digest == digest)
        ).first()
        unknown = KeyRejected(MSG_UNKNOWN, code="unknown", fields={"key": MSG_UNKNOWN})
        if found is None:
            _refuse(db, account_id, terminal, now, caller, "unknown", unknown)
        assert found is not None
        key_id, owner, valid_until, sku, name, kind, withdrawn, customer_id = found
        section = SECTIONS.get(kind, SECTIONS["licence"])
        if owner == account_id:
            audit.record(db, "licence_redeem", outcome="already_yours", actor_id=account_id,
                         terminal_id=caller.terminal_id, product_sku=sku, now=now)
            _commit_and_raise(db, AlreadyRedeemed(
                MSG_ALREADY_YOURS, fields={"key": MSG_ALREADY_YOURS},
                params={"section": section}))
        if owner is not None:  # the entry is right: say what is wrong (still counted)
            _refuse(db, account_id, terminal, now, caller, "taken", KeyRejected(
                MSG_TAKEN, code="taken", fields={"key": MSG_TAKEN}), sku)
        if valid_until is not None and valid_until < now.date():
            date = valid_until.isoformat()  # the screen shows it in the customer's format
            _refuse(db, account_id, terminal, now, caller, "expired", KeyRejected(
                MSG_EXPIRED, code="expired", fields={"key": MSG_EXPIRED},
                params={"date": date}), sku)
        if withdrawn:
            _refuse(db, account_id, terminal, now, caller, "withdrawn", KeyRejected(
                MSG_WITHDRAWN, code="withdrawn", fields={"key": MSG_WITHDRAWN}), sku)
        taken = db.execute(
            update(LicenceKey)
            .where(LicenceKey.id == key_id, LicenceKey.redeemed_by_id.is_(None))
            .values(redeemed_by_id=account_id, redeemed_at=now, customer_id=customer_id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:  # another terminal redeemed it a moment ago
            winner = db.scalar(select(LicenceKey.redeemed_by_id)
                               .where(LicenceKey.id == key_id))
            if winner == account_id:
                _commit_and_raise(db, AlreadyRedeemed(
                    MSG_ALREADY_YOURS, fields={"key": MSG_ALREADY_YOURS},
                    params={"section": section}))
            _refuse(db, account_id, terminal, now, caller, "taken", KeyRejected(
                MSG_TAKEN, code="taken", fields={"key": MSG_TAKEN}), sku)
        audit.record(db, "licence_redeemed", actor_id=account_id, customer_id=customer_id,
                     terminal_id=caller.terminal_id, product_sku=sku, now=now)
    return RedeemResult(sku=sku, name=name, kind=kind, section=section, activated_at=now,
                        valid_until=valid_until,
                        params={"name": name, "section": section})


def list_products(backend: Backend, token: str | None) -> ProductLists:
    """What the account owns: keys it redeemed and keys of its linked customer numbers."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        linked = select(CustomerLink.customer_id).where(CustomerLink.account_id == account.id)
        rows = db.execute(
            select(LicenceKey.id, LicenceKey.redeemed_at, LicenceKey.valid_until, Product.sku,
                   Product.name, Product.kind, Product.access_url, Product.instructions,
                   Product.withdrawn)
            .join(Product, Product.id == LicenceKey.product_id)
            .where(or_(LicenceKey.redeemed_by_id == account.id,
                       LicenceKey.customer_id.in_(linked)))
            .order_by(LicenceKey.redeemed_at.desc(), LicenceKey.id)
        ).all()
    lists = ProductLists()
    for r in rows:
        item = OwnedProduct(id=r.id, sku=r.sku, name=r.name, kind=r.kind,
                            activated_at=r.redeemed_at, valid_until=r.valid_until,
                            access_url=r.access_url, instructions=r.instructions,
                            withdrawn=r.withdrawn)
        lists.of(r.kind if r.kind in KINDS else "licence").append(item)
    return lists


__all__ = ["KEY_ALPHABET", "KEY_LENGTH", "AlreadyRedeemed", "KeyFormatError", "KeyRejected",
           "OwnedProduct", "ProductLists", "RedeemResult", "check_format", "group_key",
           "list_products", "redeem_key"]
