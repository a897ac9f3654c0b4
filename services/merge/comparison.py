"""Step 2 of the merge wizard: prove, then compare (guide 004).

``compare(backend, token, keep, other, credential, caller)`` checks the proof for ``other``
(``services.merge.proof``), then compares both records field by field
(``services.merge.diff``). When company, first or last name differ the merge is blocked: a
``SupportRequest`` of kind ``merge_blocked`` is queued (once per pair, the requester is mailed)
and the contract-transfer form can be saved or mailed as a PDF (``services.merge.form``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Customer, SupportRequest
from services import audit, mail
from services.caller import Caller
from services.errors import N_
from services.i18n import translate
from services.merge.actor import Actor, _actor, _language
from services.merge.diff import DiffRow, _blocked, _difference_details, _person, diff_rows
from services.merge.proof import _check_pair, _load, _proven, _validate
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

KIND_BLOCKED = "merge_blocked"
OPEN_REQUEST_STATES = ("open", "taken")
MSG_REQUEST_SUBJECT = N_("Merging customer numbers: a signed contract transfer form is needed")


class Comparison(BaseModel):
    kept_number: str
    other_number: str
    rows: list[DiffRow]
    blocked: bool
    reference: int | None = None  # the service-desk request of a blocked merge
    already_merged: bool = False


def _blocked_request(db: DbSession, actor: Actor, caller: Caller, keep: Customer,
                     other: Customer, rows: list[DiffRow], now: dt.datetime) -> int:
    """Queue (once per pair) the service-desk request of a blocked merge; its id."""
    query = select(SupportRequest).where(
        SupportRequest.kind == KIND_BLOCKED, SupportRequest.status.in_(OPEN_REQUEST_STATES),
        SupportRequest.customer_id == keep.id)
    for request in db.scalars(query):
        if request.details.get("other_number") == other.number:
            return request.id
    account = db.get(Account, actor.account_id) if actor.account_id is not None else None
    details: dict[str, Any] = {
        "kept_number": keep.number, "other_number": other.number,
        "kept_name": _person(keep), "other_name": _person(other),
        "differing_fields": [r.field for r in rows if r.differs],
        "blocking_fields": [r.field for r in rows if r.differs and r.blocking],
        "differences": _difference_details(rows),
        "proof_checked": True, "customer_session": account is None,
        "terminal": caller.terminal_id,
    }
    if account is not None:
        details.update(account_username=account.username, account_email=account.email)
    request = SupportRequest(
        kind=KIND_BLOCKED, status="open", account_id=actor.account_id, customer_id=keep.id,
        subject="Merge blocked: names differ, signed contract transfer form needed",
        details={k: v for k, v in details.items() if v is not None},
        created_at=now, updated_at=now)
    db.add(request)
    db.flush()
    audit.record(db, "support_request", actor_id=actor.account_id, customer_id=keep.id,
                 terminal_id=caller.terminal_id, kind=KIND_BLOCKED, reference=request.id,
                 other_number=other.number, now=now)
    to = actor.email or keep.email
    if to:
        language = _language(actor, caller)
        mail.enqueue(db, to=to, template="support_request_sent", language=language,
                     params={"name": actor.name, "reference": str(request.id),
                             "subject": translate(language, MSG_REQUEST_SUBJECT)})
    return request.id


@text_input({"other": "other_number"})
def compare(backend: Backend, token: str | None, keep: str, other: str, credential: str,
            caller: Caller) -> Comparison:
    """Check the proof for ``other`` and compare both records (see module doc)."""
    keep_n, other_n = _validate(keep, other, credential)
    now = backend.now()
    _proven(backend, token, caller, other_n, credential)
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=True)
        other_c = _load(db, other_n)
        assert other_c is not None  # proven a moment ago; records are never deleted
        keep_c = _check_pair(db, actor, _load(db, keep_n), other_c)
        rows = diff_rows(keep_c, other_c)
        result = Comparison(kept_number=keep_c.number, other_number=other_c.number, rows=rows,
                            blocked=_blocked(rows),
                            already_merged=other_c.merged_into_id == keep_c.id)
        if result.blocked and not result.already_merged:
            result.reference = _blocked_request(db, actor, caller, keep_c, other_c, rows, now)
        audit.record(db, "merge_compare", actor_id=actor.account_id,
                     customer_id=keep_c.id, terminal_id=caller.terminal_id,
                     kept_number=keep_c.number, other_number=other_c.number,
                     differing_fields=[r.field for r in rows if r.differs],
                     blocked=result.blocked, now=now)
        return result
