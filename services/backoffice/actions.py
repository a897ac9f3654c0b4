"""Service-desk actions (#9), each checked (agent, or supervisor where said), audited and
done in one transaction: new activation code with a printable letter, unfreeze a code,
unlock an account, resend a confirmation, start a password reset, end a user's sessions,
reassign a customer number (supervisor), reverse a merge (supervisor).

Callers reach these as ``services.backoffice_actions`` (the public name, kept from before the
back office became a package); this module is where they are written.

The agent never sets or sees a password; the new activation code is returned once (for the
letter) and stored only as a keyed digest.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from db.engine import for_update
from db.models import Account, ActivationCode, Customer, CustomerLink, MergeOrder
from services import accounts, audit, mail, merge, sessions, throttle
from services.backoffice.common import (
    MERGE_REVERSIBLE,
    MSG_NO_ACCOUNT,
    agent_session,
    clean_note,
    get_account,
    get_customer,
)
from services.backoffice.search import search
from services.caller import Caller
from services.crypto import new_code, normalize_code
from services.errors import N_, Conflict, NotFound
from services.files import pdf_text, write_private
from services.normalize import text_input

if TYPE_CHECKING:
    from services.backend import Backend

CODE_VALID_DAYS = 90
MSG_MERGED = N_("This customer number was merged into another one.")
MSG_NOT_LOCKED = N_("This account is not locked.")
MSG_NOT_UNVERIFIED = N_("This account is already confirmed.")
MSG_NO_EMAIL = N_("This account has no e-mail address.")
MSG_NOT_LINKED = N_("This customer number is not linked to any account.")
MSG_SAME_ACCOUNT = N_("The customer number is already linked to this account.")
MSG_TYPE_TAKEN = N_("The target account already holds a customer number of this type.")
MSG_MERGE_DONE = N_("This merge was already reversed.")
MSG_NO_MERGE = N_("This merge does not exist.")


class IssuedCode(BaseModel):
    number: str
    code: str  # shown once to the agent, printed on the letter; never stored in plain text
    valid_until: dt.date
    letter: str  # path of the PDF letter


class ActionResult(BaseModel):
    message: str
    params: dict[str, str] = {}


# --------------------------------------------------------------------------- activation codes


def issue_activation_code(backend: Backend, token: str | None, customer_id: int,
                          caller: Caller | None = None) -> IssuedCode:
    """Revoke the customer's unused codes, create a new one (valid 90 days) and write a
    printable letter (PDF) to the export directory. The code is returned once."""
    caller = caller or Caller()
    now = backend.now()
    raw = new_code(12)  # the format of the codes in the records: XXXX-XXXX-XXXX
    code = "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        customer = db.scalars(for_update(select(Customer).where(Customer.id == customer_id), db)).first()
        if customer is None:
            get_customer(db, customer_id)
        assert customer is not None
        if customer.merged_into_id is not None:
            raise Conflict(MSG_MERGED)
        revoked = db.execute(update(ActivationCode).where(
            ActivationCode.customer_id == customer.id, ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None)).values(revoked_at=now)).rowcount or 0
        valid_until = now.date() + dt.timedelta(days=CODE_VALID_DAYS)
        db.add(ActivationCode(customer_id=customer.id, valid_until=valid_until, created_at=now,
                              code_digest=backend.digester.digest("activation",
                                                                  normalize_code(code))))
        audit.record(db, "desk_activation_issued", actor_id=agent.id, customer_id=customer.id,
                     terminal_id=caller.terminal_id, revoked=revoked,
                     valid_until=valid_until.isoformat(), now=now)
        letter = write_letter(backend, customer, code, valid_until)
        return IssuedCode(number=customer.number, code=code, valid_until=valid_until,
                          letter=str(letter))


def write_letter(backend: Backend, customer: Customer, code: str, valid_until: dt.date) -> Path:
    """The activation letter as PDF (file mode 0600) in ``Settings.resolved_export_dir()``."""
    from fpdf import FPDF

    language = backend.settings.language
    texts = LETTER[language if language in LETTER else "de"]
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    address = [customer.company, " ".join(p for p in (customer.salutation, customer.first_name,
                                                      customer.last_name) if p),
               customer.street, " ".join(p for p in (customer.postal_code, customer.city) if p)]
    for line in filter(None, address):
        pdf.cell(0, 6, pdf_text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(20)
    pdf.set_font("Helvetica", style="B", size=13)
    pdf.cell(0, 8, pdf_text(texts["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.ln(4)
    pdf.multi_cell(0, 6, pdf_text(texts["body"].format(number=customer.number,
                                                     until=valid_until.strftime("%d.%m.%Y"))))
    pdf.ln(4)
    pdf.set_font("Courier", style="B", size=16)
    pdf.cell(0, 10, f"{texts['number']}: {customer.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 10, f"{texts['code']}: {code}", new_x="LMARGIN", new_y="NEXT")
    directory = backend.settings.resolved_export_dir
    directory.mkdir(parents=True, exist_ok=True)
    stamp = backend.now().strftime("%Y%m%d-%H%M%S")
    path = directory / f"freischaltcode-{_safe(customer.number)}-{stamp}.pdf"
    write_private(path, bytes(pdf.output()))
    return path


LETTER = {
    "de": {"title": "Ihr neuer Freischaltcode",
           "body": "mit diesem Freischaltcode verknüpfen Sie Ihre Kundennummer {number} mit "
                   "Ihrem Benutzerkonto (Kundennummern > Kundennummer zuordnen). Der Code gilt "
                   "einmal und bis zum {until}. Frühere Codes sind ungültig.",
           "number": "Kundennummer", "code": "Freischaltcode"},
    "en": {"title": "Your new activation code",
           "body": "use this activation code to link your customer number {number} to your "
                   "user account (Customer numbers > Link a customer number). It is valid "
                   "once and until {until}. Earlier codes are no longer valid.",
           "number": "Customer number", "code": "Activation code"},
}



def _safe(number: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in number)[:40]


def unfreeze_code(backend: Backend, token: str | None, customer_id: int) -> ActionResult:
    """Lift the freeze of a customer number after too many wrong activation codes: every
    counter of the number (record-wide alarm, per account, per terminal)."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        customer = get_customer(db, customer_id)
        throttle.unfreeze_record(db, "link_code", customer.number)
        audit.record(db, "desk_code_unfrozen", actor_id=agent.id, customer_id=customer.id,
                     now=backend.now())
        return ActionResult(message=N_("The customer number {number} can be linked again."),
                            params={"number": customer.number})


# --------------------------------------------------------------------------- accounts


def unlock_account(backend: Backend, token: str | None, account_id: int) -> ActionResult:
    """A locked account (too many wrong passwords) becomes active; its counters are reset."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        account = db.scalars(for_update(select(Account).where(Account.id == account_id), db)).first()
        if account is None or account.kind != "customer":
            raise NotFound(MSG_NO_ACCOUNT)
        frozen = not throttle.check(db, "login", "account", f"a{account.id}",
                                    throttle.LOGIN_ACCOUNT, backend.now()).allowed(backend.now())
        if account.status != "locked" and not frozen:
            raise Conflict(MSG_NOT_LOCKED)
        if account.status == "locked":
            account.status = "active"
        account.locked_until = None
        account.failed_logins = 0
        throttle.unfreeze(db, "login", "account", f"a{account.id}")
        audit.record(db, "account_unlocked", actor_id=agent.id, account=account.id,
                     via="desk", now=backend.now())
    return ActionResult(message=N_("The account is unlocked."))


def _identifier(account: Account) -> str:
    if not account.email:
        raise Conflict(MSG_NO_EMAIL)
    return account.email


def resend_confirmation(backend: Backend, token: str | None, account_id: int,
                        caller: Caller | None = None) -> ActionResult:
    """Send the confirmation mail of an unconfirmed account again."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        account = get_account(db, account_id)
        if account.status != "unverified":
            raise Conflict(MSG_NOT_UNVERIFIED)
        identifier, language = _identifier(account), account.language
        audit.record(db, "desk_confirmation_resent", actor_id=agent.id, account=account.id,
                     now=backend.now())
    accounts.resend_verification(backend, identifier, caller or Caller(language=language))
    return ActionResult(message=N_("The confirmation e-mail was sent again."))


def start_password_reset(backend: Backend, token: str | None, account_id: int,
                         caller: Caller | None = None) -> ActionResult:
    """Mail the user a reset code (the agent never sets or sees a password)."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        account = get_account(db, account_id)
        identifier, language = _identifier(account), account.language
        audit.record(db, "desk_password_reset", actor_id=agent.id, account=account.id,
                     now=backend.now())
    accounts.request_password_reset(backend, identifier, caller or Caller(language=language))
    return ActionResult(message=N_("The user received an e-mail to set a new password."))


def end_sessions(backend: Backend, token: str | None, account_id: int) -> ActionResult:
    """End every open session of a user (they must log in again)."""
    with backend.transaction() as db:
        agent = agent_session(db, backend, token)
        account = get_account(db, account_id)
        now = backend.now()
        count = sessions.end_all(db, account.id, "desk", now)
        audit.record(db, "desk_sessions_ended", actor_id=agent.id, account=account.id,
                     count=count, now=now)
    return ActionResult(message=N_("{count} sessions ended."), params={"count": str(count)})


# --------------------------------------------------------------------------- supervisor


@text_input()
def reassign_number(backend: Backend, token: str | None, customer_id: int,
                    to_account_id: int, note: str = "") -> ActionResult:
    """Move a customer number's link to another customer account (supervisors only)."""
    text = clean_note(note)
    try:
        with backend.transaction() as db:
            agent = agent_session(db, backend, token, supervisor=True)
            link = db.scalars(for_update(select(CustomerLink).where(
                CustomerLink.customer_id == customer_id), db)).first()
            if link is None:
                get_customer(db, customer_id)
                raise Conflict(MSG_NOT_LINKED)
            target = get_account(db, to_account_id)
            if link.account_id == target.id:
                raise Conflict(MSG_SAME_ACCOUNT)
            if db.scalar(select(CustomerLink.id).where(
                    CustomerLink.account_id == target.id,
                    CustomerLink.customer_type == link.customer_type)) is not None:
                raise Conflict(MSG_TYPE_TAKEN)
            customer = get_customer(db, customer_id)
            previous = db.get(Account, link.account_id)
            now = backend.now()
            link.account_id, link.linked_at, link.linked_by = target.id, now, "desk"
            db.flush()
            audit.record(db, "desk_number_reassigned", actor_id=agent.id,
                         customer_id=customer.id, from_account=previous.id if previous else None,
                         to_account=target.id, note=text or None, now=now)
            for account, template in ((previous, "desk_number_removed"),
                                      (target, "desk_number_added")):
                if account is not None and account.email:
                    mail.enqueue(db, to=account.email, template=template,
                                 language=account.language,
                                 params={"name": sessions.display_name(account),
                                         "number": customer.number})
            return ActionResult(
                message=N_("The customer number {number} now belongs to {user}."),
                params={"number": customer.number, "user": target.username or target.email or ""})
    except IntegrityError:
        raise Conflict(MSG_TYPE_TAKEN) from None


@text_input()
def reverse_merge(backend: Backend, token: str | None, order_id: int,
                  caller: Caller | None = None, reason: str = "") -> ActionResult:
    """Reverse a merge within 30 days (supervisors only) through ``services.merge``."""
    text = clean_note(reason)
    with backend.transaction() as db:
        agent = agent_session(db, backend, token, supervisor=True)
        order = db.get(MergeOrder, order_id)
        if order is None:
            raise NotFound(MSG_NO_MERGE)
        if order.status != "done":
            raise Conflict(MSG_MERGE_DONE)
        if backend.now() - order.created_at > MERGE_REVERSIBLE:
            raise Conflict(merge.MSG_TOO_LATE)
        agent_id = agent.id
    merge.reverse_merge(backend, order_id, agent_id, reason=text or None,
                        terminal_id=(caller or Caller()).terminal_id)
    return ActionResult(message=N_("The merge was reversed."))


def linked_account_choices(backend: Backend, token: str | None, query: str
                           ) -> list[tuple[int, str]]:
    """Customer accounts for the reassign dialog: (id, "user name <e-mail>")."""
    return [(hit.id, f"{hit.name} <{hit.email or ''}>")
            for hit in search(backend, token, query) if hit.kind == "account"]

