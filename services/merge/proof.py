"""The proof that the other number belongs to the customer, and the rules for a pair.

Before anything is compared or moved, ``_proven`` checks that ``other`` belongs to the
customer: its customer password or a valid Freischaltcode, checked in constant time (one
argon2 run and one code digest on every path). The attempt is reserved first on the limits of
linking by code (``customer_numbers.POLICIES``: per number and actor, per number and terminal,
the number's alarm level, per actor and per terminal), and every wrong proof gets one neutral
message. ``_check_pair`` holds the ownership rules (the kept number is the actor's, the other
one nobody else's, neither merged elsewhere); ``_lock_pair`` locks both customer rows for the
order and its reversal.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.engine import lock_rows
from db.models import ActivationCode, Customer, CustomerLink
from services import audit, customer_numbers, throttle
from services.caller import Caller
from services.crypto import normalize_code
from services.errors import N_, AuthFailed, Conflict, NotAllowed, Throttled, ValidationFailed
from services.merge.actor import Actor, _actor
from services.normalize import customer_number as norm_number

if TYPE_CHECKING:
    from services.backend import Backend

ACTION = "merge_proof"
# The limits of linking by Freischaltcode: per number (5 wrong proofs in 24 h freeze it until
# the service desk helps), per account or customer-number session, per terminal.
# Reserved before the proof is checked; per number and actor / terminal, the alarm level per
# number (``throttle`` doc, "Per-record limits").
POLICIES = customer_numbers.POLICIES
SUBJECT_ALARM = N_("Many wrong proofs for one customer number in the merge")

MSG_REQUIRED = N_("This field must not be empty.")
MSG_PROOF = N_("The customer number and the customer password or Freischaltcode do not "
               "match. Please check both entries.")
MSG_FROZEN = N_("Too many wrong entries were made for this customer number. Please ask the "
                "service desk for help.")
MSG_SAME = N_("Please enter a customer number other than the one you keep.")
MSG_NOT_YOURS = N_("The customer number {number} is not linked to your account.")
MSG_OTHER_ACCOUNT = N_("The customer number {number} belongs to another user and cannot be "
                       "merged.")
MSG_HAS_ACCOUNT = N_("The customer number {number} is linked to a portal account. Please log "
                     "in with that account to merge it.")
MSG_ALREADY_MERGED = N_("The customer number {number} has already been merged and cannot be "
                        "merged again.")


def _validate(keep: str, other: str, credential: str) -> tuple[str, str]:
    fields = {}
    if not (keep or "").strip():
        fields["keep"] = MSG_REQUIRED
    if not (other or "").strip():
        fields["other_number"] = MSG_REQUIRED
    if not credential:
        fields["credential"] = MSG_REQUIRED
    if fields:
        raise ValidationFailed(MSG_REQUIRED, fields=fields)
    keep_n, other_n = norm_number(keep)[:32], norm_number(other)[:32]
    if keep_n == other_n:
        raise ValidationFailed(MSG_SAME, fields={"other_number": MSG_SAME})
    return keep_n, other_n


def _reserve(backend: Backend, token: str | None, caller: Caller, number: str) -> Actor:
    """The actor (password entered recently) and the attempt reserved on the other number's
    counters, committed before the proof is checked (``throttle`` doc); refusals raise."""
    now = backend.now()
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=True)
        limits = throttle.record_limits(ACTION, number, actor.key,
                                        caller.terminal_id or actor.terminal_id or "local",
                                        POLICIES)
        reservation = throttle.reserve(db, limits, now)
        if not reservation.granted:
            kind, message, params = throttle.refusal(reservation, now)
            audit.record(db, "merge_proof", outcome="throttled", actor_id=actor.account_id,
                         customer_id=actor.customer_id, terminal_id=caller.terminal_id,
                         reason=kind, number=number, now=now)
            db.commit()
            raise Throttled(MSG_FROZEN if kind == "frozen" else message, params=params)
    actor.reservation = reservation
    return actor


def _code_matches(db: DbSession, backend: Backend, customer: Customer | None, credential: str,
                  today: dt.date) -> bool:
    """A valid (unused, unrevoked, unexpired) Freischaltcode of ``customer``; constant time."""
    wanted = backend.digester.digest("activation", normalize_code(credential))
    if customer is None:
        return False
    found = False
    for row in db.scalars(select(ActivationCode).where(ActivationCode.customer_id == customer.id)):
        same = backend.digester.same(row.code_digest, wanted)
        usable = (row.used_at is None and row.revoked_at is None
                  and (row.valid_until is None or row.valid_until >= today))
        found = found or (same and usable)
    return found


def _prove(db: DbSession, backend: Backend, actor: Actor, caller: Caller,
           other: Customer | None, number: str, credential: str) -> Customer:
    """Check the proof for ``other`` (one argon2 run and one code digest on every path). Right:
    the reservation (``_reserve``) is given back; wrong: it stays counted, audited (the
    alarm level opens a desk request), committed and raised."""
    now = backend.now()
    password = unicodedata.normalize("NFKC", credential)
    by_password = backend.hasher.verify(other.password_hash if other else None, password)
    by_code = _code_matches(db, backend, other, credential, now.date())
    reservation = actor.reservation
    assert reservation is not None
    if other is not None and (by_password or by_code):
        throttle.succeeded(db, reservation.limits, now)
        return other
    audit.record(db, "merge_proof", outcome="failed", actor_id=actor.account_id,
                 customer_id=actor.customer_id, terminal_id=caller.terminal_id,
                 number=number, now=now)
    throttle.raise_alarm(db, reservation, subject=SUBJECT_ALARM,
                         customer_id=other.id if other is not None else None,
                         account_id=actor.account_id, terminal=caller.terminal_id, now=now)
    db.commit()
    if reservation.status("record_actor").frozen:
        raise Throttled(MSG_FROZEN)
    raise AuthFailed(MSG_PROOF)


def _proven(backend: Backend, token: str | None, caller: Caller, number: str,
            credential: str) -> None:
    """Reserve the attempt, then check the proof in a transaction of its own (no record lock
    held during argon2), so that its outcome is committed whatever the merge does next."""
    reserved = _reserve(backend, token, caller, number)
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=True)
        actor.reservation = reserved.reservation
        _prove(db, backend, actor, caller, _load(db, number), number, credential)


def _owner(db: DbSession, customer: Customer) -> int | None:
    return db.scalar(select(CustomerLink.account_id).where(
        CustomerLink.customer_id == customer.id))


def _check_pair(db: DbSession, actor: Actor, keep: Customer | None, other: Customer) -> Customer:
    """The ownership rules: the kept number is the actor's, the other one nobody else's."""
    if keep is None:
        raise NotAllowed(MSG_NOT_YOURS, fields={"keep": MSG_NOT_YOURS}, params={"number": ""})
    params = {"number": keep.number}
    keep_owner = _owner(db, keep)
    if actor.account_id is not None and keep_owner != actor.account_id:
        raise NotAllowed(MSG_NOT_YOURS, fields={"keep": MSG_NOT_YOURS}, params=params)
    if actor.customer_id is not None:
        if keep.id != actor.customer_id:
            raise NotAllowed(MSG_NOT_YOURS, fields={"keep": MSG_NOT_YOURS}, params=params)
        if keep_owner is not None:
            raise NotAllowed(MSG_HAS_ACCOUNT, params=params)
    if keep.merged_into_id is not None:
        raise Conflict(MSG_ALREADY_MERGED, params=params)
    params = {"number": other.number}
    if other.merged_into_id is not None and other.merged_into_id != keep.id:
        raise Conflict(MSG_ALREADY_MERGED, params=params)
    other_owner = _owner(db, other)
    if other_owner is not None and other_owner != actor.account_id:
        message = MSG_HAS_ACCOUNT if actor.account_id is None else MSG_OTHER_ACCOUNT
        raise NotAllowed(message, params=params)
    return keep


def _load(db: DbSession, number: str) -> Customer | None:
    return db.scalars(select(Customer).where(Customer.number == number)
                      .execution_options(populate_existing=True)).first()


def _lock_pair(db: DbSession, numbers: tuple[str, str]) -> None:
    """Lock both customer rows (lower id first): FOR UPDATE on PostgreSQL; on SQLite a no-op
    write takes the database write lock, so two orders of one pair run one after the other."""
    db.scalars(lock_rows(db, Customer, Customer.number.in_(numbers))).all()
