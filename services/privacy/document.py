"""The data export's document (#16, GDPR Art. 15/20): everything stored about an account.

``collect`` reads it, one section per table named after the table: the profile, further
contacts, sessions, codes sent by mail, linked customer numbers and contracts (with the record
itself), licences, memberships, consents, requests with their comments, merges, deletion
requests, throttle counters, the second factor's dates, mails (without their body, which
carried codes) and the audit entries the account made. Columns that hold secrets (hashes,
digests, tokens, secrets: ``SECRET_COLUMN``, by name, so later tables are covered too) are
never in it; ``covered_tables`` lets a test hold every table that points to ``account`` to a
section. ``build_json`` and ``build_pdf`` turn the document into the two files the owner gets
(the PDF a readable summary, one heading a section).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session as DbSession

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
from services.errors import N_, NotFound
from services.files import pdf_text
from services.i18n import format_date, translate

FORMAT = "kundenkiosk-data-export/1"
#: Columns never exported (and never needed by the owner): hashes, keyed digests, tokens,
#: secrets — by name, so that tables added later are covered too.
SECRET_COLUMN = re.compile(r"hash|digest|token|secret|recovery", re.IGNORECASE)
MSG_NO_ACCOUNT = N_("This user account does not exist.")
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


def account_addresses(db: DbSession, account: Account) -> list[str]:
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
    addresses = account_addresses(db, account)
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
        return pdf_text(translate(language, msgid, **params))

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
            pdf.multi_cell(0, 4, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    return bytes(pdf.output())
