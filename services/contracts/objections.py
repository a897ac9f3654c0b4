"""Objections to a contract link and unlinking at the service desk (#5, #9).

The mail a link sends to the customer on record carries an objection code. With it an agent
or supervisor records the objection (``object_to_link``): one ``contract_link_blocked``
request with reason ``objection`` (an open one for the same link is not duplicated); wrong
codes count per agent and per terminal. ``unlink_contract`` then removes the link, resolves
the open objection requests of the contract and mails the account holder. Both take the
contract's row lock that a link takes (``linking._lock_contract``), so they run in turn with
a link of the same contract.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Contract, ContractLink, Customer, SupportRequest
from services import audit, mail, sessions, throttle
from services.accounts import MSG_REQUIRED
from services.backoffice import agent_session, clean_note, customer_name
from services.caller import Caller
from services.contracts.linking import KIND_BLOCKED, _lock_contract
from services.crypto import normalize_code
from services.errors import N_, Conflict, NotFound, Throttled, ValidationFailed
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

MSG_OBJECTION_BAD = N_("This objection code is not known.")
MSG_NO_CONTRACT = N_("This contract does not belong to this customer.")
MSG_NOT_LINKED_ANY = N_("This contract is not linked to any user account.")
MSG_UNLINKED = N_("The contract {number} is no longer linked to {user}.")
SUBJECT_OBJECTION = N_("Objection to a contract link")
RESOLUTION_UNLINKED = N_("The contract link was removed.")

# Per agent: 5 wrong objection codes within an hour -> 5 min wait, doubling up to 1 h.
OBJECTION_AGENT_POLICY = throttle.Policy(max_failures=5, window=dt.timedelta(hours=1),
                                         base_wait=dt.timedelta(minutes=5),
                                         max_wait=dt.timedelta(hours=1))
# Per terminal (several agents at one desk terminal): 15 within an hour.
OBJECTION_TERMINAL_POLICY = throttle.Policy(max_failures=15, window=dt.timedelta(hours=1),
                                            base_wait=dt.timedelta(minutes=5),
                                            max_wait=dt.timedelta(hours=1))
OBJECTION_ACTION = "contract_objection"


class ObjectionResult(BaseModel):
    """What the agent needs after recording an objection (never the code)."""

    reference: int
    created: bool  # False: an open objection request for this link existed already
    contract_number: str
    customer_id: int
    customer_number: str
    customer_name: str
    linked_account: str
    params: dict[str, str] = {}


def _objection_keys(agent_id: int, caller: Caller) -> list[tuple[str, str, throttle.Policy]]:
    return [("agent", f"g{agent_id}", OBJECTION_AGENT_POLICY),
            ("terminal", caller.terminal_id, OBJECTION_TERMINAL_POLICY)]


def _objection_throttled(db: DbSession, agent_id: int, caller: Caller, now: dt.datetime) -> None:
    states = throttle.check_many(db, [(OBJECTION_ACTION, scope, key, policy)
                                      for scope, key, policy in _objection_keys(agent_id, caller)],
                                 now)
    wait = max(state.wait_seconds(now) for state in states)
    if wait:
        raise Throttled(throttle.MSG_WAIT, params={"seconds": wait}, fields={"objection_code": throttle.MSG_WAIT})


@text_input()
def object_to_link(backend: Backend, token: str | None, objection_code: str,
                   caller: Caller) -> ObjectionResult:
    """The customer on record objects to a contract link with the code from the mail; an agent
    or supervisor records it at the service desk. Creates one ``contract_link_blocked`` request
    with reason ``objection`` (an open one for the same link is not duplicated).

    Wrong codes give one neutral message and count per agent and per terminal; the audit and
    the result name the contract and the customer, never the code."""
    code = normalize_code(objection_code or "")
    if not code:
        raise ValidationFailed(MSG_REQUIRED, fields={"objection_code": MSG_REQUIRED})
    now = backend.now()
    wanted = backend.digester.digest("contract_objection", code)
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        _objection_throttled(db, agent.id, caller, now)
        link = _objected_link(db, wanted)
        if link is None:
            for scope, key, policy in _objection_keys(agent.id, caller):
                throttle.fail(db, OBJECTION_ACTION, scope, key, policy, now)
            audit.record(db, "contract_link_objection", outcome="failed", actor_id=agent.id,
                         terminal_id=caller.terminal_id, now=now)
            db.commit()
            raise NotFound(MSG_OBJECTION_BAD, fields={"objection_code": MSG_OBJECTION_BAD})
        contract = db.get(Contract, link.contract_id)
        account = db.get(Account, link.account_id)
        assert contract is not None and account is not None
        customer = db.get(Customer, contract.customer_id)
        assert customer is not None
        request, created = _objection_request(db, link, contract, account, agent, caller, now)
        audit.record(db, "contract_link_objection", actor_id=agent.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, number=contract.number,
                     account=account.id, reference=request.id, created=created, now=now)
        holder = account.username or account.email or sessions.display_name(account)
        return ObjectionResult(
            reference=request.id, created=created, contract_number=contract.number,
            customer_id=customer.id, customer_number=customer.number,
            customer_name=customer_name(customer), linked_account=holder,
            params={"reference": str(request.id), "number": contract.number,
                    "customer": customer.number})


def _objected_link(db: DbSession, digest: str) -> ContractLink | None:
    """The link with this objection digest, read again under its contract's lock (the lock a
    link and an unlink take), so two agents recording the same objection run in turn."""
    query = select(ContractLink).where(ContractLink.objection_digest == digest)
    link = db.scalars(query).first()
    if link is None:
        return None
    contract = db.get(Contract, link.contract_id)
    assert contract is not None
    _lock_contract(db, contract.number)
    return db.scalars(query.execution_options(populate_existing=True)).first()


def _objection_request(db: DbSession, link: ContractLink, contract: Contract, account: Account,
                       agent: Account, caller: Caller, now: dt.datetime
                       ) -> tuple[SupportRequest, bool]:
    """The open objection request for this link, or a new one (``created``)."""
    for existing in db.scalars(select(SupportRequest).where(
            SupportRequest.kind == KIND_BLOCKED, SupportRequest.status.in_(("open", "taken")),
            SupportRequest.customer_id == contract.customer_id)):
        if (existing.details.get("reason") == "objection"
                and existing.details.get("contract_number") == contract.number):
            return existing, False
    request = SupportRequest(
        kind=KIND_BLOCKED, status="open", account_id=link.account_id,
        customer_id=contract.customer_id, subject=SUBJECT_OBJECTION,
        details={"contract_number": contract.number, "reason": "objection",
                 "linked_account_id": link.account_id,
                 "account_username": account.username, "account_email": account.email,
                 "linked_at": link.linked_at.isoformat(), "terminal": caller.terminal_id,
                 "recorded_by": agent.username},
        created_at=now, updated_at=now)
    request.details = {k: v for k, v in request.details.items() if v is not None}
    db.add(request)
    db.flush()
    return request, True


class UnlinkResult(BaseModel):
    message: str
    params: dict[str, str] = {}
    closed_requests: list[int] = []


@text_input()
def unlink_contract(backend: Backend, token: str | None, customer_id: int,
                    contract_number: str, caller: Caller, note: str = "") -> UnlinkResult:
    """Remove a contract's link to its portal account (an agent or supervisor at the service
    desk, e.g. after the customer on record objected). Open objection requests for the contract
    are resolved with it; the account holder is mailed; audited. One transaction."""
    text = clean_note(note)
    now = backend.now()
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        # the same lock as a link takes: an unlink and a link of this contract run in turn
        contract = _lock_contract(db, contract_number)
        if contract is None or (contract.customer_id, contract.number) != (customer_id,
                                                                           contract_number):
            raise NotFound(MSG_NO_CONTRACT)
        link = db.scalars(select(ContractLink).where(
            ContractLink.contract_id == contract.id)).first()
        if link is None:
            raise Conflict(MSG_NOT_LINKED_ANY)
        account = db.get(Account, link.account_id)
        assert account is not None
        db.delete(link)
        closed = _resolve_objections(db, contract, agent, text, now)
        audit.record(db, "desk_contract_unlinked", actor_id=agent.id,
                     customer_id=contract.customer_id, terminal_id=caller.terminal_id,
                     account=account.id, number=contract.number, requests=closed,
                     note=text or None, now=now)
        if account.email:
            mail.enqueue(db, to=account.email, template="desk_contract_unlinked",
                         language=account.language,
                         params={"name": sessions.display_name(account),
                                 "number": contract.number, "note": text})
        holder = account.username or account.email or sessions.display_name(account)
        return UnlinkResult(message=MSG_UNLINKED, closed_requests=closed,
                            params={"number": contract.number, "user": holder})


def _resolve_objections(db: DbSession, contract: Contract, agent: Account, note: str,
                        now: dt.datetime) -> list[int]:
    """Resolve the open objection requests of this contract (the unlink answers them)."""
    closed = []
    for request in db.scalars(select(SupportRequest).where(
            SupportRequest.kind == KIND_BLOCKED, SupportRequest.status.in_(("open", "taken")),
            SupportRequest.customer_id == contract.customer_id)):
        if (request.details.get("reason") == "objection"
                and request.details.get("contract_number") == contract.number):
            request.status, request.updated_at = "resolved", now
            request.resolution = note or RESOLUTION_UNLINKED
            request.assigned_to_id = request.assigned_to_id or agent.id
            closed.append(request.id)
    return closed
