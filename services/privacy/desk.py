"""The desk's Datenschutz work (#16), for a customer who proved their identity at the counter.

``desk_export`` mails the customer's data export to the account's confirmed address (the
agent never sees it). ``desk_request_deletion`` opens a request in the "Datenschutz" queue
(``KIND_PRIVACY``, one of the desk's queues in ``services.backoffice.queues``);
``desk_decide_deletion`` by a supervisor other than the one who asked confirms it (the
deletion is then scheduled as a self-service one, ``deletion.schedule``) or, by any agent
with a reason the customer is mailed, rejects it (four-eyes). All audited; ``note`` says how
the identity was proven.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.engine import for_update
from db.models import Account, AccountDeletion, SupportRequest
from services import audit, mail, sessions
from services.backoffice.common import MSG_CLOSED, agent_session, clean_note
from services.caller import Caller
from services.errors import N_, Conflict, NotAllowed, NotFound
from services.i18n import format_date, translate
from services.privacy.deletion import (
    MSG_ALREADY_PENDING,
    DeletionResult,
    customer_account,
    open_deletion,
    refuse_last_super_admin,
    schedule,
)
from services.privacy.export import ExportResult, count_export, export_files, mail_export

if TYPE_CHECKING:
    from services.backend import Backend

KIND_PRIVACY = "privacy_deletion"
MSG_DESK_EXPORT_MAILED = N_("The data export was sent to the account's e-mail address.")
MSG_DESK_DELETION_REQUESTED = N_(
    "The deletion was requested. A supervisor must confirm it in the queue \"Data protection\".")
MSG_DESK_DELETION_CONFIRMED = N_("The deletion is confirmed; the account is erased on {date}.")
MSG_DESK_DELETION_REJECTED = N_("The deletion request was rejected.")
MSG_FOUR_EYES = N_("Another supervisor must confirm this deletion (four-eyes principle).")
MSG_NOT_A_DELETION = N_("This request is not a deletion request.")
MSG_DESK_SUBJECT = N_("Account deletion requested at the desk")
MSG_NOTE_REQUIRED = N_("Please note how the customer proved their identity.")


def _desk_agent(db: DbSession, backend: Backend, token: str | None, *,
                supervisor: bool = False) -> Account:
    return agent_session(db, backend, token, supervisor=supervisor)


def _identity_note(note: str | None) -> str:
    return clean_note(note, required=True)


def desk_export(backend: Backend, token: str | None, account_id: int, note: str,
                caller: Caller) -> ExportResult:
    """The export for a customer who proved their identity at the desk: mailed to the
    account's confirmed address, never shown to the agent. ``note``: how identity was proven."""
    text = _identity_note(note)
    with backend.transaction() as db:
        agent = _desk_agent(db, backend, token)
        account = customer_account(db, account_id)
        count_export(db, backend, account.id)
        base, files = export_files(backend, db, account, account.language)
        mail_export(db, backend, account, files, base)
        audit.record(db, "data_export", actor_id=agent.id, terminal_id=caller.terminal_id,
                     via="desk", account=account.id, note=text, now=backend.now())
    return ExportResult(message=MSG_DESK_EXPORT_MAILED)


def desk_request_deletion(backend: Backend, token: str | None, account_id: int, note: str,
                          caller: Caller) -> DeletionResult:
    """An agent starts a deletion for a customer who proved their identity at the desk; it
    waits in the "Datenschutz" queue until a supervisor (another one) confirms it."""
    text = _identity_note(note)
    with backend.transaction() as db:
        agent = _desk_agent(db, backend, token)
        account = customer_account(db, account_id, lock=True)
        refuse_last_super_admin(db, account.id)
        if open_deletion(db, account.id) is not None:
            raise Conflict(MSG_ALREADY_PENDING)
        now = backend.now()
        request = SupportRequest(kind=KIND_PRIVACY, status="open", account_id=account.id,
                                 subject=MSG_DESK_SUBJECT, details={"note": text},
                                 created_at=now, updated_at=now)
        db.add(request)
        db.flush()
        deletion = AccountDeletion(account_id=account.id, state="awaiting_confirmation",
                                   via="desk", requested_by_id=agent.id, request_id=request.id,
                                   requested_at=now)
        db.add(deletion)
        db.flush()
        audit.record(db, "desk_deletion_requested", actor_id=agent.id,
                     terminal_id=caller.terminal_id, account=account.id, reference=request.id,
                     note=text, now=now)
    return DeletionResult(message=MSG_DESK_DELETION_REQUESTED)


def desk_decide_deletion(backend: Backend, token: str | None, request_id: int, confirm: bool,
                         note: str = "", caller: Caller | None = None) -> DeletionResult:
    """Confirm (a supervisor other than the requesting agent: the deletion is scheduled — the
    account locked, mailed, erased after the wait) or reject (any agent, with a reason the
    customer is mailed) the desk's deletion request."""
    text = clean_note(note, required=not confirm)
    terminal = caller.terminal_id if caller else None
    with backend.transaction() as db:
        agent = _desk_agent(db, backend, token, supervisor=confirm)
        request = db.scalars(for_update(select(SupportRequest).where(
            SupportRequest.id == request_id), db)).first()
        if request is None or request.kind != KIND_PRIVACY:
            raise NotFound(MSG_NOT_A_DELETION)
        if request.status not in ("open", "taken"):
            raise Conflict(MSG_CLOSED)
        deletion = db.scalars(select(AccountDeletion).where(
            AccountDeletion.request_id == request.id)).first()
        waiting = deletion is not None and deletion.state == "awaiting_confirmation"
        if confirm and not waiting:
            raise Conflict(MSG_CLOSED)
        if confirm and deletion is not None and deletion.requested_by_id == agent.id:
            raise NotAllowed(MSG_FOUR_EYES)
        now = backend.now()
        request.assigned_to_id = request.assigned_to_id or agent.id
        request.resolution, request.updated_at = text or None, now
        if deletion is not None and waiting:
            deletion.confirmed_by_id, deletion.decided_at = agent.id, now
        if not confirm:
            request.status = "rejected"
            if deletion is not None and waiting:
                deletion.state = "rejected"
            account = db.get(Account, request.account_id) if request.account_id else None
            if account is not None and account.email:
                mail.enqueue(db, to=account.email, template="desk_request_rejected",
                             language=account.language,
                             params={"name": sessions.display_name(account),
                                     "reference": str(request.id),
                                     "subject": translate(account.language, MSG_DESK_SUBJECT),
                                     "note": text})
            audit.record(db, "desk_deletion_rejected", actor_id=agent.id,
                         terminal_id=terminal, account=request.account_id,
                         reference=request.id, now=now)
            return DeletionResult(message=MSG_DESK_DELETION_REJECTED)
        assert deletion is not None
        account = customer_account(db, deletion.account_id, lock=True)
        refuse_last_super_admin(db, account.id)
        request.status = "resolved"
        erase_after = schedule(db, backend, account, deletion, terminal)
        audit.record(db, "desk_deletion_confirmed", actor_id=agent.id,
                     terminal_id=terminal, account=account.id, reference=request.id, now=now)
        date = format_date(erase_after.date(), caller.language if caller else "de")
    return DeletionResult(erase_on=erase_after.date(), message=MSG_DESK_DELETION_CONFIRMED,
                          params={"date": date})
