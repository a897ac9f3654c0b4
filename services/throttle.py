"""Counters against guessing, stored in the database (``db.models.Throttle``).

One row per (action, scope, key), e.g. ("login", "account", "a42") or ("login", "terminal",
"kiosk-3"). They hold across processes and restarts.

Reservations (issue 20, item 1)
-------------------------------
Every flow that checks a secret (account login, customer-number login, linking a customer
number by code, linking a contract, the merge proof) *reserves* its attempt before the secret
is looked at::

    limits = [Limit("login", "terminal", terminal, LOGIN_TERMINAL),
              Limit("login", "account", key, LOGIN_ACCOUNT, on_success="reset")]
    with backend.transaction() as db:            # 1. short transaction, committed
        reservation = throttle.reserve(db, limits, now)
    if not reservation.granted: ...               #    refused: the secret is never checked
    ok = hasher.verify(...)                       # 2. the check, no lock held
    with backend.transaction() as db:            # 3. the outcome
        if ok:
            throttle.succeeded(db, limits, now)   #    reset or release the reservation
        # a failure needs nothing more: it was counted in step 1

``reserve`` takes a row lock on every counter (``INSERT … ON CONFLICT DO NOTHING`` then
``SELECT … FOR UPDATE`` on PostgreSQL, in one fixed order so that two reservations never
deadlock; SQLite's single write lock, taken by the first INSERT), refuses when any counter is
frozen or waiting, and otherwise counts the attempt as a failure on all of them. So the
reservation *is* the failure: at most ``max_failures`` checks per key are ever evaluated
before the wait or freeze starts, however many processes ask at the same moment, and a right
secret that arrives after the limit was reached is refused like a wrong one.

The reservation commits in its own short transaction, before the argon2 run. Decided so
because (a) a process that is killed (or loses its database connection) during the check has
still paid for its attempt — the alternative, a reservation rolled back with the check's
transaction, gives an attacker who can kill the client free guesses; (b) no row lock (and on
SQLite no database-wide write lock) is held for the ~50-100 ms of argon2, so logins of other
accounts, and other flows at the same terminal, never queue behind a password check. The
cost is a second transaction per attempt and that an attempt whose outcome is never written
(a crash after the check) stays counted as a failure — failing closed.

``succeeded`` gives the reservation back on success: ``on_success="reset"`` forgets the key's
failures (the account's own counter after a correct password), ``"release"`` takes back just
this one count (the terminal's counter, which counts failures only).

Per-record limits that do not punish the owner (issue 20, item 5)
-----------------------------------------------------------------
A record that can be claimed with a secret (a customer number and its Freischaltcode, a
contract and its holder's data, a customer number in the merge proof) gets five counters per
attempt (``record_limits``):

* ``record_actor`` — the record *for this account* (or customer-number session): the tight
  limit (e.g. 3 or 5), then frozen for that account only;
* ``record_terminal`` — the record *at this terminal*: the same number, then that terminal
  waits out the window (a walk-in kiosk is shared, so it is not frozen for good);
* ``actor`` and ``terminal`` — across all records, as before (waits);
* ``record`` — the record for everybody: the *alarm level*, many times the tight limit. When it
  is reached, the record is closed to everyone for the rest of its window and the flow opens a
  service-desk request (``SupportRequest`` of kind ``guessing_alarm``), so the owner is never
  frozen out silently: the desk sees the attack and can lift the block at once
  (``unfreeze_record``).

So the guessing account or terminal is stopped after a few tries, while the owner, with their
own account at another terminal, still links with the right secret. Total guesses at one
record stay bounded by the alarm level per window, however many accounts and terminals an
attacker uses.

Also reserved: the password re-entry of a live session (``sessions.check_password_throttled``,
``customer_login.reauthenticate``) — in the caller's transaction, as it belongs to one
session — and the per-terminal registration limit (``accounts.REGISTER_TERMINAL``; never
given back, it counts registrations). ``check``/``fail`` remain for the mail resend interval
and for flows not covered by issue 20 items 1 and 5 (licence keys, the organisation check,
objection codes), which still check before they count.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import SupportRequest, Throttle
from services import audit
from services.errors import N_

#: What a caller who must wait is told (``params={"seconds": ...}``): per account or key, and
#: per terminal. Every flow that throttles uses these.
MSG_WAIT = N_("Too many failed attempts. Please wait {seconds} seconds and try again.")
MSG_TERMINAL_WAIT = N_("Too many failed attempts at this terminal. Please wait {seconds} seconds.")
#: A record closed at this terminal for the rest of its window (``params={"hours": ...}``).
MSG_RECORD_WAIT = N_("Too many failed attempts were made for this entry here. Please try again "
                     "in {hours} hours or ask the service desk for help.")
#: A record closed for everyone at the alarm level; the desk has a request already.
MSG_ALARM = N_("Too many failed attempts were made for this entry, so it is closed for now. "
               "The service desk has been informed. Please try again in {hours} hours or ask "
               "the service desk for help.")
#: SupportRequest.kind of the alarm level (the desk's queue).
KIND_ALARM = "guessing_alarm"


@dataclass(frozen=True)
class Policy:
    """When to make a caller wait and when to freeze the key for good.

    ``max_failures`` consecutive failures start a wait of ``base_wait``; each further failure
    doubles it, up to ``max_wait``. ``freeze_after`` failures freeze the key (a lockout that
    only ``reset``/``unfreeze`` lifts). With a ``window``, failures older than the window
    (counted from the first one) are forgotten; without one they count until ``reset``.
    """

    max_failures: int = 5
    window: dt.timedelta | None = None
    base_wait: dt.timedelta = dt.timedelta(seconds=60)
    max_wait: dt.timedelta = dt.timedelta(minutes=15)
    freeze_after: int | None = None

    def wait_after(self, failures: int) -> dt.timedelta:
        if failures < self.max_failures:
            return dt.timedelta(0)
        doublings = min(failures - self.max_failures, 32)
        return min(self.base_wait * (2**doublings), self.max_wait)


# Per account: 5 failures -> 60 s, doubling, at most 15 min; locked after 100 in a row.
LOGIN_ACCOUNT = Policy(max_failures=5, freeze_after=100)
# Per terminal: a kiosk that fails 30 times within 15 minutes waits too (many accounts tried).
LOGIN_TERMINAL = Policy(max_failures=30, window=dt.timedelta(minutes=15))
# A browser session of `kiosk serve` has the terminal id ``web-<address digest>-<session>``
# (tui.serve): its failures count for its session *and* for its source address, across all
# sessions and servers of the installation, so that opening new sessions gives no new guesses.
SOURCE_ADDRESS = Policy(max_failures=100, window=dt.timedelta(minutes=15))
_SERVED = re.compile(r"(web-[0-9a-f]{12})-[0-9a-f]+")


def _address(scope: str, key: str) -> str | None:
    match = _SERVED.fullmatch(key) if scope == "terminal" else None
    return match.group(1) if match else None


@dataclass(frozen=True)
class Status:
    failures: int = 0
    blocked_until: dt.datetime | None = None
    frozen: bool = False

    def wait_seconds(self, now: dt.datetime) -> int:
        if self.blocked_until is None or self.blocked_until <= now:
            return 0
        return max(1, int((self.blocked_until - now).total_seconds() + 0.999))

    def allowed(self, now: dt.datetime) -> bool:
        return not self.frozen and self.wait_seconds(now) == 0


def _status(row: Throttle | None, policy: Policy, now: dt.datetime) -> Status:
    if row is None:
        return Status()
    if _expired(row, policy, now):
        return Status()
    return Status(row.failures, row.blocked_until, row.frozen)


#: The state of a counter row read by the caller's own query (None: no failures).
status_of = _status


def _where(action: str, scope: str, key: str):  # type: ignore[no-untyped-def]
    return (Throttle.action == action, Throttle.scope == scope, Throttle.key == key[:128])


def check(
    session: Session, action: str, scope: str, key: str, policy: Policy, now: dt.datetime
) -> Status:
    """The current state without changing it (no lock)."""
    row = session.scalars(select(Throttle).where(*_where(action, scope, key))).first()
    status = _status(row, policy, now)
    if (address := _address(scope, key)) is not None:
        status = _worse(status, check(session, action, "address", address, SOURCE_ADDRESS, now))
    return status


def _worse(a: Status, b: Status) -> Status:
    """The status that keeps the caller out longer (the source address's ceiling or not)."""
    if a.frozen or b.frozen:
        return a if a.frozen else b
    later = max((s.blocked_until for s in (a, b) if s.blocked_until), default=None)
    return a if later is None or a.blocked_until == later else b


def check_many(
    session: Session, checks: list[tuple[str, str, str, Policy]], now: dt.datetime
) -> list[Status]:
    """Several ``check`` calls in one query: [(action, scope, key, policy), ...]."""
    conditions = [and_(*_where(action, scope, key)) for action, scope, key, _ in checks]
    rows = {(r.action, r.scope, r.key): r
            for r in session.scalars(select(Throttle).where(or_(*conditions)))}
    found = [_status(rows.get((action, scope, key[:128])), policy, now)
             for action, scope, key, policy in checks]
    return [_worse(status, check(session, action, "address", address, SOURCE_ADDRESS, now))
            if (address := _address(scope, key)) is not None else status
            for status, (action, scope, key, _policy) in zip(found, checks, strict=True)]


class _Statements(NamedTuple):
    create: Any  # INSERT … ON CONFLICT DO NOTHING of a fresh counter
    locked: Any  # the counter, locked on PostgreSQL, loaded anew (populate_existing)
    forget: Any  # DELETE of the counter


@cache
def _statements(dialect: str) -> _Statements:
    """One counter's statements, built once per kind of database with the values bound per
    call: building them anew for every counter of every attempt was most of the Python time
    of a reservation (a login's second-factor step reserves and gives back two)."""
    where = (Throttle.action == bindparam("t_action"), Throttle.scope == bindparam("t_scope"),
             Throttle.key == bindparam("t_key"))
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    create = insert(Throttle).values(
        action=bindparam("t_action"), scope=bindparam("t_scope"), key=bindparam("t_key"),
        failures=0, window_start=bindparam("t_now", type_=Throttle.window_start.type),
        frozen=False).on_conflict_do_nothing(index_elements=["action", "scope", "key"])
    locked = select(Throttle).where(*where)
    if dialect == "postgresql":
        locked = locked.with_for_update()
    return _Statements(create, locked.execution_options(populate_existing=True),
                       delete(Throttle).where(*where))


def _bound(action: str, scope: str, key: str) -> dict[str, Any]:
    return {"t_action": action, "t_scope": scope, "t_key": key[:128]}


def _locked_row(session: Session, action: str, scope: str, key: str, now: dt.datetime) -> Throttle:
    statements = _statements(session.get_bind().dialect.name)
    params = _bound(action, scope, key)
    for _ in range(5):
        # on the connection: through the session an INSERT with values is an ORM bulk insert,
        # compiled anew on every call
        session.connection().execute(statements.create, {**params, "t_now": now})
        # populate_existing: the row may be in the identity map with stale values.
        row = session.scalars(statements.locked, params).first()
        if row is not None:
            return row
        # PostgreSQL, READ COMMITTED: between the two statements another transaction's
        # success deleted the counter (``reset``) and committed; the next INSERT sees that
        # and creates it again.
    raise RuntimeError(f"throttle counter {action}/{scope} kept vanishing")


def fail(
    session: Session, action: str, scope: str, key: str, policy: Policy, now: dt.datetime
) -> Status:
    """Count one failure (exactly, under a row lock) and return the new state."""
    row = _locked_row(session, action, scope, key, now)
    if _expired(row, policy, now):
        row.failures, row.window_start, row.blocked_until = 0, now, None
    _count(row, policy, now)
    session.flush()
    status = Status(row.failures, row.blocked_until, row.frozen)
    if (address := _address(scope, key)) is not None:
        status = _worse(status, fail(session, action, "address", address, SOURCE_ADDRESS, now))
    return status


# --------------------------------------------------------------------------- reservations


@dataclass(frozen=True)
class Limit:
    """One counter an attempt is reserved on; ``on_success`` is "reset" or "release"."""

    action: str
    scope: str
    key: str
    policy: Policy
    on_success: str = "release"

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.action, self.scope, self.key[:128])


@dataclass(frozen=True)
class Reservation:
    """The outcome of ``reserve``: per limit (in the caller's order) the state after counting
    this attempt when granted, or as found when refused (nothing counted then)."""

    limits: tuple[Limit, ...]
    statuses: tuple[Status, ...]
    refused: tuple[int, ...] = ()

    @property
    def granted(self) -> bool:
        return not self.refused

    def status(self, scope: str) -> Status:
        """The state of the (first) limit of this scope."""
        for limit, status in zip(self.limits, self.statuses, strict=True):
            if limit.scope == scope:
                return status
        return Status()

    def refused_by(self, scope: str) -> bool:
        """Whether a limit of ``scope`` refused; a served session's source-address ceiling
        counts as its terminal's."""
        scopes = {scope, "address"} if scope == "terminal" else {scope}
        return any(self.limits[i].scope in scopes for i in self.refused)

    def wait_seconds(self, now: dt.datetime) -> int:
        """The longest wait among the refusing limits (at least 1 when refused)."""
        waits = [self.statuses[i].wait_seconds(now) for i in self.refused]
        return max([1, *waits]) if self.refused else 0


def _expired(row: Throttle, policy: Policy, now: dt.datetime) -> bool:
    return (policy.window is not None and not row.frozen
            and row.window_start + policy.window <= now)


def _with_addresses(limits: list[Limit] | tuple[Limit, ...]) -> tuple[Limit, ...]:
    """The limits plus, for a served browser session's terminal counter, the ceiling of its
    source address (counted like the terminal: released on success)."""
    extra = tuple(Limit(limit.action, "address", address, SOURCE_ADDRESS)
                  for limit in limits if (address := _address(limit.scope, limit.key)))
    return tuple(limits) + extra


def _ordered(limits: list[Limit] | tuple[Limit, ...]) -> list[int]:
    """Indices in one fixed order (action, scope, key): locks are always taken in it."""
    return sorted(range(len(limits)), key=lambda i: limits[i].ident)


def reserve(session: Session, limits: list[Limit] | tuple[Limit, ...], now: dt.datetime
            ) -> Reservation:
    """Count one attempt on every limit, atomically and before the secret is checked.

    Every counter row is locked (in one fixed order); when any of them is frozen or still
    waiting, nothing is counted and the reservation is refused. Otherwise each counter gets
    the attempt as a failure (wait and freeze computed as in ``fail``). Commit the caller's
    transaction before the check (see the module doc)."""
    limits = _with_addresses(limits)
    rows: dict[int, Throttle] = {}
    for i in _ordered(limits):
        limit = limits[i]
        rows[i] = _locked_row(session, limit.action, limit.scope, limit.key, now)
    for i, limit in enumerate(limits):
        row = rows[i]
        if _expired(row, limit.policy, now):
            row.failures, row.window_start, row.blocked_until = 0, now, None
    found = tuple(Status(rows[i].failures, rows[i].blocked_until, rows[i].frozen)
                  for i in range(len(limits)))
    refused = tuple(i for i, status in enumerate(found) if not status.allowed(now))
    if refused:
        session.flush()
        return Reservation(limits, found, refused)
    for i, limit in enumerate(limits):
        _count(rows[i], limit.policy, now)
    session.flush()
    return Reservation(limits, tuple(Status(rows[i].failures, rows[i].blocked_until,
                                            rows[i].frozen) for i in range(len(limits))))


def _count(row: Throttle, policy: Policy, now: dt.datetime) -> None:
    row.failures += 1
    row.last_failure_at = now
    wait = policy.wait_after(row.failures)
    row.blocked_until = now + wait if wait else None
    if policy.freeze_after is not None and row.failures >= policy.freeze_after:
        row.frozen = True


def succeeded(session: Session, limits: list[Limit] | tuple[Limit, ...], now: dt.datetime
              ) -> None:
    """The secret was right: give the reservation back (``reset`` or ``release`` per limit)."""
    limits = _with_addresses(limits)
    for i in _ordered(limits):
        limit = limits[i]
        if limit.on_success == "reset":
            reset(session, limit.action, limit.scope, limit.key)
        else:
            release(session, limit.action, limit.scope, limit.key, limit.policy, now)


def release(session: Session, action: str, scope: str, key: str, policy: Policy,
            reserved_at: dt.datetime | None = None) -> None:
    """Take back one reserved count that turned out not to be a failure. With
    ``reserved_at`` (the reservation's time): when the latest count is still that one, the
    wait it started goes too (the reservation was granted, so no wait was in force)."""
    row = session.scalars(_statements(session.get_bind().dialect.name).locked,
                          _bound(action, scope, key)).first()
    if row is None:
        return
    row.failures = max(row.failures - 1, 0)
    if row.failures == 0 and not row.frozen:
        session.delete(row)  # nothing left to remember (as if there had been no attempt)
        session.flush()
        return
    if row.failures < policy.max_failures or (
            reserved_at is not None and _same_instant(row.last_failure_at, reserved_at)):
        row.blocked_until = None
    if policy.freeze_after is not None and row.failures < policy.freeze_after:
        row.frozen = False
    session.flush()


def _same_instant(stored: dt.datetime | None, at: dt.datetime) -> bool:
    """``stored`` (naive on SQLite, aware on PostgreSQL) is the instant ``at``."""
    if stored is None:
        return False
    if stored.tzinfo is None and at.tzinfo is not None:
        stored = stored.replace(tzinfo=dt.UTC)
    return stored == at


def login_limits(terminal: str, key: str, scope: str = "account") -> list[Limit]:
    """The two counters of a login step (password or second-factor code): the terminal's
    failures and the account's (reset on success). ``scope`` "customer" for the
    customer-number login."""
    return [Limit("login", "terminal", terminal, LOGIN_TERMINAL),
            Limit("login", scope, key, LOGIN_ACCOUNT, on_success="reset")]


def record_key(record: str, who: str) -> str:
    """The key of a per-record counter for one account or terminal."""
    return f"{record[:64]}|{who}"[:128]


@dataclass(frozen=True)
class RecordPolicies:
    """The five limits of a record claimed with a secret (see the module doc)."""

    actor_on_record: Policy
    terminal_on_record: Policy
    alarm: Policy
    actor: Policy
    terminal: Policy


def record_policies(per_record: int, alarm: int) -> RecordPolicies:
    """The limits of a record claimed with a secret, within 24 h: ``per_record`` failures
    freeze the record for that account (only the desk helps) and make that terminal wait out
    the 24 h; ``alarm`` failures from anyone close the record for the rest of the 24 h (and
    open a desk request, ``raise_alarm``). Per account 10 failures, then 15 min doubling up
    to 24 h; per terminal (many accounts tried at one kiosk) 30 within an hour, then 5 min
    doubling up to an hour. The records differ only in the first two numbers."""
    day = dt.timedelta(hours=24)
    return RecordPolicies(
        actor_on_record=Policy(max_failures=per_record, window=day, base_wait=dt.timedelta(0),
                               freeze_after=per_record),
        terminal_on_record=Policy(max_failures=per_record, window=day, base_wait=day,
                                  max_wait=day),
        alarm=Policy(max_failures=alarm, window=day, base_wait=day, max_wait=day),
        actor=Policy(max_failures=10, window=day, base_wait=dt.timedelta(minutes=15),
                     max_wait=day),
        terminal=Policy(max_failures=30, window=dt.timedelta(hours=1),
                        base_wait=dt.timedelta(minutes=5), max_wait=dt.timedelta(hours=1)))


def record_limits(action: str, record: str, actor: str, terminal: str,
                  policies: RecordPolicies) -> list[Limit]:
    """[record_actor, record_terminal, record (alarm), actor, terminal] for one attempt."""
    return [
        Limit(action, "record_actor", record_key(record, actor), policies.actor_on_record,
              on_success="reset"),
        Limit(action, "record_terminal", record_key(record, terminal),
              policies.terminal_on_record),
        Limit(action, "record", record[:64], policies.alarm),
        Limit(action, "actor", actor, policies.actor, on_success="reset"),
        Limit(action, "terminal", terminal, policies.terminal),
    ]


def refusal(reservation: Reservation, now: dt.datetime) -> tuple[str, str, dict[str, int]]:
    """Why a reservation with per-record limits was refused, as (kind, msgid, params): kind
    "frozen" (this account on this record: the flow words it), "alarm", "record" (this
    terminal on this record) or "wait" (the account's or terminal's own wait)."""
    if reservation.refused_by("record_actor"):
        return "frozen", MSG_WAIT, {}
    hours = max(1, -(-reservation.wait_seconds(now) // 3600))
    if reservation.refused_by("record"):
        return "alarm", MSG_ALARM, {"hours": hours}
    if reservation.refused_by("record_terminal"):
        return "record", MSG_RECORD_WAIT, {"hours": hours}
    return "wait", MSG_WAIT, {"seconds": reservation.wait_seconds(now)}


def raise_alarm(session: Session, reservation: Reservation, *, subject: str,
                customer_id: int | None, account_id: int | None, terminal: str | None,
                now: dt.datetime) -> int | None:
    """After a failed check: when the record-wide counter has reached its alarm level, open
    the desk's ``guessing_alarm`` request for the record (once while one is open); its id.

    The record's counter row is locked first, so two failures at the alarm level open one
    request."""
    index = next((i for i, limit in enumerate(reservation.limits) if limit.scope == "record"),
                 None)
    if index is None or reservation.statuses[index].allowed(now):
        return None
    limit = reservation.limits[index]
    row = _locked_row(session, limit.action, limit.scope, limit.key, now)
    for request in session.scalars(select(SupportRequest).where(
            SupportRequest.kind == KIND_ALARM, SupportRequest.status.in_(("open", "taken")))):
        if (request.details.get("action"), request.details.get("record")) == \
                (limit.action, limit.key):
            return request.id
    request = SupportRequest(
        kind=KIND_ALARM, status="open", account_id=None, customer_id=customer_id,
        subject=subject,
        details={"action": limit.action, "record": limit.key, "failures": row.failures,
                 "since": row.window_start.isoformat(), "last_account_id": account_id,
                 "last_terminal": terminal},
        created_at=now, updated_at=now)
    session.add(request)
    session.flush()
    audit.record(session, KIND_ALARM, actor_id=account_id, customer_id=customer_id,
                 terminal_id=terminal, action=limit.action, record=limit.key,
                 failures=row.failures, reference=request.id, now=now)
    return request.id


def record_locked(session: Session, action: str, record: str, now: dt.datetime) -> bool:
    """Whether any counter of the record is frozen or waiting (the desk's "blocked" flag)."""
    prefix = record[:64] + "|"
    rows = session.scalars(select(Throttle).where(
        Throttle.action == action,
        or_(and_(Throttle.scope == "record", Throttle.key == record[:64]),
            and_(Throttle.scope.in_(("record_actor", "record_terminal")),
                 Throttle.key.startswith(prefix, autoescape=True)))))
    return any(row.frozen or (row.blocked_until is not None and row.blocked_until > now)
               for row in rows)


def unfreeze_record(session: Session, action: str, record: str) -> int:
    """Lift every counter of one record (the desk): record-wide and per account/terminal."""
    prefix = record[:64] + "|"
    result = session.execute(delete(Throttle).where(
        Throttle.action == action,
        or_(and_(Throttle.scope == "record", Throttle.key == record[:64]),
            and_(Throttle.scope.in_(("record_actor", "record_terminal")),
                 Throttle.key.startswith(prefix, autoescape=True)))))
    return result.rowcount or 0


def reset(session: Session, action: str, scope: str, key: str) -> None:
    """Forget all failures (after a success, a password reset or an agent's unlock)."""
    session.execute(_statements(session.get_bind().dialect.name).forget,
                    _bound(action, scope, key))


unfreeze = reset

#: Counters without a failure for this long are forgotten by ``purge_stale``.
STALE_AFTER = dt.timedelta(days=30)


def purge_stale(session: Session, now: dt.datetime, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Delete counters whose last failure is older than ``older_than`` (housekeeping).

    Frozen keys and keys still waiting stay: only the service desk lifts a freeze.
    """
    cutoff = now - older_than
    result = session.execute(
        delete(Throttle).where(
            Throttle.frozen.is_(False),
            or_(Throttle.blocked_until.is_(None), Throttle.blocked_until < now),
            or_(Throttle.last_failure_at < cutoff,
                and_(Throttle.last_failure_at.is_(None), Throttle.window_start < cutoff)),
        )
    )
    return result.rowcount or 0


__all__ = ["LOGIN_ACCOUNT", "LOGIN_TERMINAL", "MSG_TERMINAL_WAIT", "MSG_WAIT", "STALE_AFTER",
           "KIND_ALARM", "MSG_ALARM", "MSG_RECORD_WAIT", "SOURCE_ADDRESS", "Limit", "Policy",
           "RecordPolicies", "Reservation", "Status",
           "check", "check_many", "fail", "login_limits", "purge_stale", "raise_alarm", "record_locked", "refusal", "record_key",
           "record_limits", "release", "reserve", "reset", "succeeded", "unfreeze",
           "unfreeze_record"]
