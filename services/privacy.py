"""Data protection self-service (#16): "Meine Daten herunterladen" and "Benutzerkonto löschen".

Export (GDPR Art. 15/20)
    ``export_my_data(backend, token, password, caller, by_mail=...)`` — after the password
    again: everything stored about the account as JSON (``collect``: one section per table,
    named after it) and a readable PDF summary of the same. Written to the export directory,
    or (kiosk mode, and always from the desk: ``desk_export``) mailed to the account's
    confirmed address as one ZIP attachment, so nothing stays on a shared terminal. Columns
    that hold secrets (hashes, digests, tokens, secrets) are never exported; mails are listed
    without their body (which carried codes). Once per ``data_export_interval_minutes``
    (a counter in the throttle table), audited (``data_export``).

Deletion (Art. 17)
    ``deletion_preview`` says what will happen; ``request_deletion`` (password again) refuses
    while the account is the last super admin of a company, otherwise locks the account at
    once (status ``deletion_pending``), ends its sessions and mails a cancel link.
    For ``deletion_wait_days`` the owner can cancel: logging in offers it
    (``accounts.DeletionPending`` → ``cancel_deletion_login``), or the mailed link
    (``cancel_deletion_link``, answered by ``kiosk serve`` at /cancel-deletion/<token>). Then ``erase_due`` (housekeeping)
    erases it: personal fields emptied (the row stays as a tombstone so that ids elsewhere
    stay valid; e-mail address and user name are free for a new registration), links to
    customer numbers, contracts and licences released, memberships ended, contacts, codes,
    sessions, throttle counters and outbox mails removed, the account's audit entries
    pseudonymised (the actor id stays; names, addresses and notes go — see migration 0009).
    The company's own records (customer numbers, contracts, merge orders) stay.

Desk (four-eyes)
    ``desk_export`` mails the export for a customer who proved their identity at the desk
    (the agent never sees it). ``desk_request_deletion`` opens a request in the "Datenschutz"
    queue (``KIND_PRIVACY``); ``desk_decide_deletion`` by a supervisor other than the one who
    asked confirms (the deletion is scheduled as above) or rejects it. All audited.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.orm import Session as DbSession

from db.engine import for_update
from db.models import (
    Account,
    AccountContact,
    AccountDeletion,
    AuditEvent,
    Consent,
    Contract,
    ContractLink,
    Customer,
    CustomerLink,
    EmailToken,
    LicenceKey,
    Membership,
    MergeOrder,
    OutboxMail,
    Product,
    RecoveryCode,
    RequestComment,
    SecondFactor,
    Session,
    SupportRequest,
    Throttle,
    metadata,
)
from services import accounts, audit, mail, sessions, throttle
from services.caller import Caller
from services.errors import (
    N_,
    AuthFailed,
    Conflict,
    NotAllowed,
    NotFound,
    StorageUnavailable,
    Throttled,
)
from services.exports import _latin1, _write
from services.i18n import format_date, translate

if TYPE_CHECKING:
    from services.backend import Backend

FORMAT = "kundenkiosk-data-export/1"
PURPOSE_CANCEL = "deletion_cancel"
KIND_PRIVACY = "privacy_deletion"
PENDING = "deletion_pending"
DELETED = "deleted"
OPEN_STATES = ("awaiting_confirmation", "scheduled")
#: Columns never exported (and never needed by the owner): hashes, keyed digests, tokens,
#: secrets — by name, so that tables added later are covered too.
SECRET_COLUMN = re.compile(r"hash|digest|token|secret|recovery", re.IGNORECASE)
#: Audit detail keys that may carry a person's name, address or free text.
PERSONAL_DETAILS = frozenset({"note", "name", "email", "new_email", "username", "identifier",
                              "to", "address", "street", "city", "phone", "comment",
                              "subject", "first_name", "last_name"})
#: Audit detail keys that name an account by id (desk actions about a customer's account).
ACCOUNT_DETAILS = ("account", "from_account", "to_account")

MSG_EXPORT_WRITTEN = N_("Your data was saved as {json} and {pdf}.")
MSG_EXPORT_MAILED = N_("Your data was sent to {email} as a ZIP file (JSON and PDF).")
MSG_DESK_EXPORT_MAILED = N_("The data export was sent to the account's e-mail address.")
MSG_EXPORT_WAIT = N_("Your data can be downloaded once an hour. Please try again in "
                     "{minutes} minutes.")
MSG_NO_MAIL = N_("The account has no confirmed e-mail address, so the data cannot be sent.")
MSG_NO_DISK = N_("The export could not be saved. Please try again later or ask the staff.")
MSG_LAST_SUPER_ADMIN = N_(
    "You are the only super admin of {companies}. Make another member super admin first; "
    "then the account can be deleted.")
MSG_DELETION_SCHEDULED = N_(
    "Your account is locked and will be deleted on {date}. Until then you can cancel the "
    "deletion by logging in again or with the link in the e-mail we have sent you.")
MSG_DELETION_CANCELLED = N_("The deletion was cancelled. Your account is active again.")
MSG_CANCEL_INVALID = N_("This link is not valid (any more), or no deletion is waiting.")
MSG_ALREADY_PENDING = N_("A deletion of this account is already under way.")
MSG_DESK_DELETION_REQUESTED = N_(
    "The deletion was requested. A supervisor must confirm it in the queue \"Data protection\".")
MSG_DESK_DELETION_CONFIRMED = N_("The deletion is confirmed; the account is erased on {date}.")
MSG_DESK_DELETION_REJECTED = N_("The deletion request was rejected.")
MSG_FOUR_EYES = N_("Another supervisor must confirm this deletion (four-eyes principle).")
MSG_NOT_A_DELETION = N_("This request is not a deletion request.")
MSG_DESK_SUBJECT = N_("Account deletion requested at the desk")
MSG_NO_ACCOUNT = N_("This user account does not exist.")
MSG_NOTE_REQUIRED = N_("Please note how the customer proved their identity.")

#: PDF headings of the sections (the JSON uses the table names).
SECTION_TITLES = {
    "account": N_("Profile"), "account_contact": N_("Further e-mail addresses and phone numbers"),
    "customer_link": N_("Linked customer numbers"), "contract_link": N_("Linked contracts"),
    "licence_key": N_("Licences"), "membership": N_("Company memberships"),
    "consent": N_("Consents (history)"), "session": N_("Sessions"),
    "email_token": N_("Codes sent by e-mail (without the codes)"),
    "support_request": N_("Requests to the service desk"), "merge_order": N_("Merges"),
    "account_deletion": N_("Deletion requests"), "throttle": N_("Counters of failed attempts"),
    "outbox": N_("E-mails to you (without their text)"), "audit_log": N_("Audit trail"),
}
PDF_TITLE = N_("My data at Kundenkiosk")
PDF_AS_OF = N_("As of {date} for {name}")
PDF_NONE = N_("(none)")


class ExportResult(BaseModel):
    json_path: str | None = None
    pdf_path: str | None = None
    email: str | None = None
    message: str
    params: dict[str, str] = {}


class DeletionPreview(BaseModel):
    erase_on: dt.date
    customer_numbers: list[str]
    contracts: list[str]
    licences: int
    companies: list[str]
    blocked_by: list[str]  # companies whose last super admin this account is


class DeletionResult(BaseModel):
    erase_on: dt.date | None = None
    message: str
    params: dict[str, str] = {}


# --------------------------------------------------------------------------- export


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _row(table: Table, row: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: _plain(getattr(row, c.key)) for c in table.columns
            if not SECRET_COLUMN.search(c.key) and c.key not in skip}


def _rows(db: DbSession, model: Any, *where: Any, skip: tuple[str, ...] = ()
          ) -> list[dict[str, Any]]:
    table = model.__table__
    return [_row(table, r, skip=skip)
            for r in db.scalars(select(model).where(*where).order_by(model.id))]


def _addresses(db: DbSession, account: Account) -> list[str]:
    """The account's own e-mail addresses (main and further ones), as typed and folded."""
    found = {account.email, account.email_key}
    for contact in db.scalars(select(AccountContact).where(
            AccountContact.account_id == account.id, AccountContact.kind == "email")):
        found |= {contact.value, contact.value_key}
    return sorted(a for a in found if a)


def collect(db: DbSession, account_id: int) -> dict[str, Any]:
    """Everything stored about the account, one section per table (secrets left out)."""
    account = db.get(Account, account_id)
    if account is None:
        raise NotFound(MSG_NO_ACCOUNT)
    aid = account.id
    data: dict[str, Any] = {"format": FORMAT}
    data["account"] = _row(Account.__table__, account, skip=("username_key", "email_key"))
    data["account_contact"] = _rows(db, AccountContact, AccountContact.account_id == aid)
    data["email_token"] = _rows(db, EmailToken, EmailToken.account_id == aid)
    data["session"] = _rows(db, Session, Session.account_id == aid)
    links = []
    for link in db.scalars(select(CustomerLink).where(CustomerLink.account_id == aid)
                           .order_by(CustomerLink.id)):
        entry = _row(CustomerLink.__table__, link)
        customer = db.get(Customer, link.customer_id)
        entry["customer"] = _row(Customer.__table__, customer, skip=("search_name",)) \
            if customer else None
        links.append(entry)
    data["customer_link"] = links
    contracts = []
    for link in db.scalars(select(ContractLink).where(ContractLink.account_id == aid)
                           .order_by(ContractLink.id)):
        entry = _row(ContractLink.__table__, link)
        contract = db.get(Contract, link.contract_id)
        entry["contract"] = _row(Contract.__table__, contract) if contract else None
        contracts.append(entry)
    data["contract_link"] = contracts
    licences = []
    for key, product in db.execute(select(LicenceKey, Product).join(
            Product, Product.id == LicenceKey.product_id).where(LicenceKey.redeemed_by_id == aid)
            .order_by(LicenceKey.id)):
        entry = _row(LicenceKey.__table__, key)
        entry["product"] = {"sku": product.sku, "name": product.name, "kind": product.kind}
        licences.append(entry)
    data["licence_key"] = licences
    memberships = []
    for membership in db.scalars(select(Membership).where(Membership.account_id == aid)
                                 .order_by(Membership.id)):
        entry = _row(Membership.__table__, membership)
        company = db.get(Customer, membership.customer_id)
        entry["organisation"] = {"number": company.number, "company": company.company} \
            if company else None
        memberships.append(entry)
    data["membership"] = memberships
    data["consent"] = _rows(db, Consent, Consent.account_id == aid)
    requests = []
    for request in db.scalars(select(SupportRequest).where(SupportRequest.account_id == aid)
                              .order_by(SupportRequest.id)):
        entry = _row(SupportRequest.__table__, request)
        entry["comments"] = _rows(db, RequestComment, RequestComment.request_id == request.id,
                                  skip=("author_id",))
        requests.append(entry)
    data["support_request"] = requests
    data["merge_order"] = _rows(db, MergeOrder, MergeOrder.account_id == aid)
    data["account_deletion"] = _rows(db, AccountDeletion, AccountDeletion.account_id == aid,
                                     skip=("requested_by_id", "confirmed_by_id"))
    data["throttle"] = _rows(db, Throttle, Throttle.scope == "account",
                             Throttle.key == f"a{aid}")
    # the second factor (#15): when it was set up and used, never its secret or codes
    data["second_factor"] = _rows(db, SecondFactor, SecondFactor.account_id == aid)
    data["recovery_code"] = _rows(db, RecoveryCode, RecoveryCode.account_id == aid)
    addresses = _addresses(db, account)
    data["outbox"] = _rows(db, OutboxMail, OutboxMail.to.in_(addresses),
                           skip=("body", "params", "attachment", "last_error")) \
        if addresses else []
    data["audit_log"] = _rows(db, AuditEvent, AuditEvent.actor_id == aid)
    return data


#: Tables whose rows belong to an account but are not a section of their own.
NOT_SECTIONS = frozenset({"request_comment"})


def covered_tables() -> set[str]:
    """Every table with a foreign key to ``account`` must be a section of ``collect`` (a test
    holds new tables to it)."""
    return {t.name for t in metadata.sorted_tables
            if any(fk.column.table.name == "account" for fk in t.foreign_keys)} - NOT_SECTIONS


def build_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


def _value_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def build_pdf(data: dict[str, Any], language: str, name: str, today: dt.date) -> bytes:
    """A readable A4 summary of ``data``: one heading per section, one block per row."""
    from fpdf import FPDF

    def tr(msgid: str, **params: Any) -> str:
        return _latin1(translate(language, msgid, **params))

    pdf = FPDF(format="A4")
    pdf.set_title(tr(PDF_TITLE))
    pdf.set_creator("Kundenkiosk")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, tr(PDF_TITLE), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 7, tr(PDF_AS_OF, date=format_date(today, language), name=name),
             new_x="LMARGIN", new_y="NEXT")
    for section, title in SECTION_TITLES.items():
        rows = data.get(section)
        rows = [rows] if isinstance(rows, dict) else rows or []
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, f"{tr(title)} ({len(rows)})", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        if not rows:
            pdf.cell(0, 5, tr(PDF_NONE), new_x="LMARGIN", new_y="NEXT")
        for row in rows:
            text = "; ".join(f"{k}: {_value_text(v)}" for k, v in row.items()
                             if v not in (None, "", [], {}))
            pdf.multi_cell(0, 4, _latin1(text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    return bytes(pdf.output())


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _export_policy(backend: Backend) -> throttle.Policy:
    interval = dt.timedelta(minutes=backend.settings.data_export_interval_minutes)
    return throttle.Policy(max_failures=1, window=interval, base_wait=interval,
                           max_wait=interval)


def _count_export(db: DbSession, backend: Backend, account_id: int) -> None:
    """Once per interval per account (the counter lives in the throttle table)."""
    now, policy, key = backend.now(), _export_policy(backend), f"a{account_id}"
    state = throttle.check(db, "data_export", "account", key, policy, now)
    if not state.allowed(now):
        minutes = max(1, (state.wait_seconds(now) + 59) // 60)
        raise Throttled(MSG_EXPORT_WAIT, params={"minutes": minutes})
    throttle.fail(db, "data_export", "account", key, policy, now)


def _files(backend: Backend, db: DbSession, account: Account, language: str
           ) -> tuple[str, dict[str, bytes]]:
    data = collect(db, account.id)
    data["created_at"] = backend.now().isoformat()
    name = sessions.display_name(account)
    stamp = backend.now().strftime("%Y%m%d-%H%M%S")
    base = f"meine-daten-{account.id}-{stamp}"
    return base, {f"{base}.json": build_json(data),
                  f"{base}.pdf": build_pdf(data, language, name, backend.now().date())}


def _mail_export(db: DbSession, backend: Backend, account: Account, files: dict[str, bytes],
                 base: str) -> str:
    if not account.email or account.verified_at is None:
        raise NotAllowed(MSG_NO_MAIL)
    mail.enqueue(db, to=account.email, template="data_export", language=account.language,
                 params={"name": sessions.display_name(account),
                         "date": format_date(backend.now().date(), account.language)},
                 attachment=(f"{base}.zip", _zip(files)))
    return account.email


def export_my_data(backend: Backend, token: str | None, password: str, caller: Caller, *,
                   by_mail: bool = False) -> ExportResult:
    """The password again, then the JSON and PDF files (or one mail in kiosk mode)."""
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        if not password:
            raise accounts._validation("password", accounts.MSG_REQUIRED)
        sessions.check_password_throttled(db, backend, account,
                                          accounts.prepare_password(password),
                                          row.terminal_id, field="password")
        row.reauth_at = backend.now()
        _count_export(db, backend, account.id)
        base, files = _files(backend, db, account, caller.language)
        via = "mail" if by_mail else "file"
        if by_mail:
            email = _mail_export(db, backend, account, files, base)
            result = ExportResult(email=email, message=MSG_EXPORT_MAILED,
                                  params={"email": email})
        else:
            folder = backend.settings.resolved_export_dir
            try:
                folder.mkdir(parents=True, exist_ok=True)
                paths = {}
                for filename, content in files.items():
                    path = folder / filename
                    _write(path, content)
                    paths[filename.rsplit(".", 1)[1]] = str(path)
            except OSError as exc:
                raise StorageUnavailable(MSG_NO_DISK) from exc
            result = ExportResult(json_path=paths["json"], pdf_path=paths["pdf"],
                                  message=MSG_EXPORT_WRITTEN, params=paths)
        audit.record(db, "data_export", actor_id=account.id, terminal_id=caller.terminal_id,
                     via=via, now=backend.now())
        return result


def _desk_agent(db: DbSession, backend: Backend, token: str | None, *,
                supervisor: bool = False) -> Account:
    from services.backoffice import agent_session  # the desk module imports many services

    return agent_session(db, backend, token, supervisor=supervisor)


def _customer_account(db: DbSession, account_id: int, *, lock: bool = False) -> Account:
    query = select(Account).where(Account.id == account_id, Account.kind == "customer")
    account = db.scalars(for_update(query, db) if lock else query).first()
    if account is None or account.status == DELETED:
        raise NotFound(MSG_NO_ACCOUNT)
    return account


def _identity_note(note: str | None) -> str:
    from services.backoffice import clean_note

    return clean_note(note, required=True)


def desk_export(backend: Backend, token: str | None, account_id: int, note: str,
                caller: Caller) -> ExportResult:
    """The export for a customer who proved their identity at the desk: mailed to the
    account's confirmed address, never shown to the agent. ``note``: how identity was proven."""
    text = _identity_note(note)
    with backend.transaction() as db:
        agent = _desk_agent(db, backend, token)
        account = _customer_account(db, account_id)
        _count_export(db, backend, account.id)
        base, files = _files(backend, db, account, account.language)
        _mail_export(db, backend, account, files, base)
        audit.record(db, "data_export", actor_id=agent.id, terminal_id=caller.terminal_id,
                     via="desk", account=account.id, note=text, now=backend.now())
    return ExportResult(message=MSG_DESK_EXPORT_MAILED)


# --------------------------------------------------------------------------- deletion


def _last_super_admin_of(db: DbSession, account_id: int) -> list[str]:
    """Companies in which the account is the only active super admin (with an active account)."""
    blocked = []
    for membership in db.scalars(select(Membership).where(
            Membership.account_id == account_id, Membership.role == "super_admin",
            Membership.state == "active")):
        others = db.scalar(select(func.count()).select_from(Membership).join(
            Account, Account.id == Membership.account_id).where(
            Membership.customer_id == membership.customer_id,
            Membership.role == "super_admin", Membership.state == "active",
            Membership.id != membership.id, Account.status == "active")) or 0
        if not others:
            company = db.get(Customer, membership.customer_id)
            blocked.append(company.company or company.number if company else "?")
    return blocked


def _refuse_last_super_admin(db: DbSession, account_id: int) -> None:
    blocked = _last_super_admin_of(db, account_id)
    if blocked:
        raise Conflict(MSG_LAST_SUPER_ADMIN, params={"companies": ", ".join(blocked)})


def _erase_on(backend: Backend) -> dt.datetime:
    return backend.now() + dt.timedelta(days=backend.settings.deletion_wait_days)


def deletion_preview(backend: Backend, token: str | None) -> DeletionPreview:
    """What deleting the account would do (the deletion screen shows it)."""
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        numbers = list(db.scalars(select(Customer.number).join(
            CustomerLink, CustomerLink.customer_id == Customer.id)
            .where(CustomerLink.account_id == account.id).order_by(Customer.number)))
        contract_numbers = list(db.scalars(select(Contract.number).join(
            ContractLink, ContractLink.contract_id == Contract.id)
            .where(ContractLink.account_id == account.id).order_by(Contract.number)))
        licences = db.scalar(select(func.count()).select_from(LicenceKey).where(
            LicenceKey.redeemed_by_id == account.id)) or 0
        companies = [c.company or c.number for c in db.scalars(
            select(Customer).join(Membership, Membership.customer_id == Customer.id).where(
                Membership.account_id == account.id,
                Membership.state.in_(("active", "pending_approval", "approved", "invited")))
            .order_by(Customer.number))]
        return DeletionPreview(erase_on=_erase_on(backend).date(), customer_numbers=numbers,
                               contracts=contract_numbers, licences=licences,
                               companies=companies, blocked_by=_last_super_admin_of(db, account.id))


def _schedule(db: DbSession, backend: Backend, account: Account, deletion: AccountDeletion,
              terminal_id: str | None) -> dt.datetime:
    """Lock the account, end its sessions, mail the cancel link."""
    now = backend.now()
    erase_after = _erase_on(backend)
    deletion.state, deletion.erase_after = "scheduled", erase_after
    deletion.previous_status = account.status
    account.status = PENDING
    sessions.end_all(db, account.id, "deletion", now)
    _code, link = accounts.issue_token(db, backend, account, PURPOSE_CANCEL)  # the link only
    db.execute(update(EmailToken).where(
        EmailToken.account_id == account.id, EmailToken.purpose == PURPOSE_CANCEL,
        EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None),
    ).values(expires_at=erase_after))
    if account.email:
        mail.enqueue(db, to=account.email, template="account_deletion_scheduled",
                     language=account.language,
                     params={"name": sessions.display_name(account),
                             "link": accounts.public_url(backend, "cancel-deletion", link),
                             "date": format_date(erase_after.date(), account.language)})
    audit.record(db, "account_deletion_scheduled", actor_id=account.id,
                 terminal_id=terminal_id, via=deletion.via, reference=deletion.id, now=now)
    return erase_after


def _open_deletion(db: DbSession, account_id: int) -> AccountDeletion | None:
    return db.scalars(select(AccountDeletion).where(
        AccountDeletion.account_id == account_id, AccountDeletion.state.in_(OPEN_STATES))
        .order_by(AccountDeletion.id.desc())).first()


def request_deletion(backend: Backend, token: str | None, password: str, caller: Caller
                     ) -> DeletionResult:
    """The owner deletes the account: password again, the last-super-admin rule, then the wait."""
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        if not password:
            raise accounts._validation("password", accounts.MSG_REQUIRED)
        sessions.check_password_throttled(db, backend, account,
                                          accounts.prepare_password(password),
                                          row.terminal_id, field="password")
        account = _customer_account(db, account.id, lock=True)
        _refuse_last_super_admin(db, account.id)
        if _open_deletion(db, account.id) is not None:
            raise Conflict(MSG_ALREADY_PENDING)
        deletion = AccountDeletion(account_id=account.id, state="scheduled", via="self",
                                   requested_at=backend.now(), decided_at=backend.now())
        db.add(deletion)
        db.flush()
        erase_after = _schedule(db, backend, account, deletion, caller.terminal_id)
        date = format_date(erase_after.date(), caller.language)
    return DeletionResult(erase_on=erase_after.date(), message=MSG_DELETION_SCHEDULED,
                          params={"date": date})


def _cancel(db: DbSession, backend: Backend, account: Account, terminal_id: str | None,
            via: str) -> None:
    deletion = _open_deletion(db, account.id)
    if deletion is None or deletion.state != "scheduled" or account.status != PENDING:
        raise Conflict(MSG_CANCEL_INVALID)
    now = backend.now()
    deletion.state, deletion.decided_at = "cancelled", now
    account.status = deletion.previous_status if deletion.previous_status not in (
        None, PENDING, DELETED) else "active"
    db.execute(update(EmailToken).where(
        EmailToken.account_id == account.id, EmailToken.purpose == PURPOSE_CANCEL,
        EmailToken.used_at.is_(None), EmailToken.revoked_at.is_(None)).values(revoked_at=now))
    audit.record(db, "account_deletion_cancelled", actor_id=account.id,
                 terminal_id=terminal_id, via=via, reference=deletion.id, now=now)


def pending_deletion_date(backend: Backend, account_id: int) -> dt.date | None:
    """When a scheduled deletion of the account is carried out (None: none scheduled)."""
    with backend.transaction() as db:
        deletion = _open_deletion(db, account_id)
        if deletion is None or deletion.erase_after is None:
            return None
        return deletion.erase_after.date()


def cancel_deletion_login(backend: Backend, identifier: str, password: str, caller: Caller
                          ) -> accounts.LoginResult:
    """Logging in during the wait offers this: the password proves it, the deletion is
    cancelled and the customer is logged in."""
    failed = AuthFailed(accounts.MSG_LOGIN_FAILED, fields={"password": accounts.MSG_LOGIN_FAILED})
    with backend.transaction() as db:
        account = accounts._find_account(db, identifier, ("customer",))
        if account is None or account.status != PENDING:
            raise failed
        sessions.check_password_throttled(db, backend, account,
                                          accounts.prepare_password(password or ""),
                                          caller.terminal_id, field="password")
        _cancel(db, backend, account, caller.terminal_id, "login")
    return accounts.login(backend, identifier, password, caller)


def cancel_deletion_link(backend: Backend, link_token: str, caller: Caller) -> DeletionResult:
    """The link from the mail (``kiosk serve``: /cancel-deletion) cancels the deletion."""
    with backend.transaction() as db:
        found = accounts.live_link_token(db, backend, link_token, backend.now())
        if found is None or found[0].purpose != PURPOSE_CANCEL \
                or not accounts.use_token(db, found[0], backend.now()):
            raise accounts._validation("code", MSG_CANCEL_INVALID)
        _cancel(db, backend, found[1], caller.terminal_id, "link")
    return DeletionResult(message=MSG_DELETION_CANCELLED)


# --------------------------------------------------------------------------- desk, four-eyes


def desk_request_deletion(backend: Backend, token: str | None, account_id: int, note: str,
                          caller: Caller) -> DeletionResult:
    """An agent starts a deletion for a customer who proved their identity at the desk; it
    waits in the "Datenschutz" queue until a supervisor (another one) confirms it."""
    text = _identity_note(note)
    with backend.transaction() as db:
        agent = _desk_agent(db, backend, token)
        account = _customer_account(db, account_id, lock=True)
        _refuse_last_super_admin(db, account.id)
        if _open_deletion(db, account.id) is not None:
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
    from services.backoffice import MSG_CLOSED, clean_note

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
        account = _customer_account(db, deletion.account_id, lock=True)
        _refuse_last_super_admin(db, account.id)
        request.status = "resolved"
        erase_after = _schedule(db, backend, account, deletion, terminal)
        audit.record(db, "desk_deletion_confirmed", actor_id=agent.id,
                     terminal_id=terminal, account=account.id, reference=request.id, now=now)
        date = format_date(erase_after.date(), caller.language if caller else "de")
    return DeletionResult(erase_on=erase_after.date(), message=MSG_DESK_DELETION_CONFIRMED,
                          params={"date": date})


# --------------------------------------------------------------------------- erasure


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
    addresses = _addresses(db, account)
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


__all__ = ["DeletionPreview", "DeletionResult", "ExportResult", "KIND_PRIVACY",
           "cancel_deletion_link", "cancel_deletion_login", "collect",
           "covered_tables", "deletion_preview", "desk_decide_deletion", "desk_export",
           "desk_request_deletion", "erase_due", "export_my_data", "pending_deletion_date",
           "request_deletion"]
