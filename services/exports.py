""""Abo-Übersicht herunterladen": the account's contracts as a PDF (fpdf2) and a CSV file.

``export_overview(backend, token, caller)`` writes both files to the export directory
(``Settings.resolved_export_dir``, ``KIOSK_EXPORT_DIR``) and returns their paths;
``mail_overview(backend, token, caller)`` sends the PDF as an attachment to the account's
confirmed e-mail address instead (kiosk mode: nothing is left on the terminal's disk).
Texts are in the caller's language; record text is written as plain text.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from fpdf import FPDF
from pydantic import BaseModel

from services import audit, contracts, mail, sessions
from services.caller import Caller
from services.errors import N_, NotAllowed, StorageUnavailable
from services.files import pdf_text, write_private
from services.i18n import format_date, translate

if TYPE_CHECKING:
    from services.backend import Backend

TITLE = N_("Subscription overview")
OPEN_ENDED = N_("open-ended")
COLUMNS = (N_("Valid from"), N_("Valid until"), N_("Contract number"), N_("Subscription no."),
           N_("Contract status"), N_("Product"), N_("List"))
LIST_ACTIVE = N_("Linked contracts")
LIST_EXPIRED = N_("Expired subscriptions/contracts")
AS_OF = N_("As of {date} for {name}")
MSG_WRITTEN = N_("The subscription overview was saved as {pdf} and {csv}.")
MSG_MAILED = N_("The subscription overview was sent to {email} as a PDF file.")
MSG_NO_MAIL = N_("Your e-mail address is not confirmed, so the overview cannot be sent.")
MSG_NO_DISK = N_("The overview could not be saved. Please try again later or ask the staff.")
PDF_WIDTHS = (24, 24, 30, 30, 28, 58, 0)  # mm; the list is a section heading, not a column


class ExportResult(BaseModel):
    pdf: str
    csv: str
    count: int
    message: str = MSG_WRITTEN
    params: dict[str, str] = {}


class MailResult(BaseModel):
    email: str
    count: int
    message: str = MSG_MAILED
    params: dict[str, str] = {}


def _row(item: contracts.ContractItem, language: str) -> list[str]:
    def tr(msgid: str) -> str:
        return translate(language, msgid)

    until = format_date(item.valid_to, language) if item.valid_to else tr(OPEN_ENDED)
    return [format_date(item.valid_from, language), until, item.number,
            item.abo_number or "", tr(contracts.STATUS_LABELS.get(item.status, item.status)),
            item.product or "", tr(LIST_EXPIRED if item.expired else LIST_ACTIVE)]


def build_csv(lists: contracts.ContractLists, language: str) -> bytes:
    """Semicolon-separated, UTF-8 with BOM (opens in spreadsheet programs as is)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([translate(language, c) for c in COLUMNS])
    for item in lists.all:
        writer.writerow([_safe_cell(v) for v in _row(item, language)])
    return buffer.getvalue().encode("utf-8-sig")


def _safe_cell(value: str) -> str:
    """Plain text without control characters; no formula injection (a cell starting with
    = + - @ is prefixed with an apostrophe)."""
    value = "".join(ch if ch.isprintable() else " " for ch in value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value



def build_pdf(lists: contracts.ContractLists, language: str, name: str) -> bytes:
    """A one-table A4 landscape PDF: the active contracts, then the expired ones."""
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_title(pdf_text(translate(language, TITLE)))
    pdf.set_creator("Kundenkiosk")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, pdf_text(translate(language, TITLE)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    as_of = translate(language, AS_OF, date=format_date(lists.today, language), name=name)
    pdf.cell(0, 7, pdf_text(as_of), new_x="LMARGIN", new_y="NEXT")
    for heading, items in ((LIST_ACTIVE, lists.active), (LIST_EXPIRED, lists.expired)):
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, pdf_text(translate(language, heading)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 9)
        for column, width in zip(COLUMNS[:-1], PDF_WIDTHS[:-1], strict=True):
            pdf.cell(width, 6, pdf_text(translate(language, column)), border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "", 9)
        for item in items:
            for value, width in zip(_row(item, language)[:-1], PDF_WIDTHS[:-1], strict=True):
                text = pdf_text(value)
                while text and pdf.get_string_width(text) > width - 2:
                    text = text[:-1]
                pdf.cell(width, 6, text, border=1)
            pdf.ln()
    return bytes(pdf.output())


def _overview(backend: Backend, token: str | None) -> tuple[contracts.ContractLists, str, str | None,
                                                            int]:
    lists = contracts.contract_lists(backend, token)
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        email = account.email if account.verified_at is not None else None
        return lists, sessions.display_name(account), email, account.id



def export_overview(backend: Backend, token: str | None, caller: Caller) -> ExportResult:
    """Write the PDF and the CSV to the export directory; the paths come back."""
    lists, name, _email, account_id = _overview(backend, token)
    stamp = backend.now().astimezone().strftime("%Y%m%d-%H%M%S")
    folder = backend.settings.resolved_export_dir
    base = f"abo-uebersicht-{account_id}-{stamp}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        pdf_path, csv_path = folder / f"{base}.pdf", folder / f"{base}.csv"
        write_private(pdf_path, build_pdf(lists, caller.language, name))
        write_private(csv_path, build_csv(lists, caller.language))
    except OSError as exc:
        raise StorageUnavailable(MSG_NO_DISK) from exc
    with backend.transaction() as db:
        audit.record(db, "contracts_exported", actor_id=account_id,
                     terminal_id=caller.terminal_id, via="file", count=len(lists.all),
                     now=backend.now())
    return ExportResult(pdf=str(pdf_path), csv=str(csv_path), count=len(lists.all),
                        params={"pdf": str(pdf_path), "csv": str(csv_path)})


def mail_overview(backend: Backend, token: str | None, caller: Caller) -> MailResult:
    """Send the PDF to the account's confirmed address (kiosk mode)."""
    lists, name, email, account_id = _overview(backend, token)
    if not email:
        raise NotAllowed(MSG_NO_MAIL)
    pdf = build_pdf(lists, caller.language, name)
    today = format_date(lists.today, caller.language)
    with backend.transaction() as db:
        mail.enqueue(db, to=email, template="contract_overview", language=caller.language,
                     params={"name": name, "count": len(lists.all), "date": today},
                     attachment=(f"abo-uebersicht-{lists.today:%Y-%m-%d}.pdf", pdf))
        audit.record(db, "contracts_exported", actor_id=account_id,
                     terminal_id=caller.terminal_id, via="mail", count=len(lists.all),
                     now=backend.now())
    return MailResult(email=email, count=len(lists.all), params={"email": email})


__all__ = ["ExportResult", "MailResult", "build_csv", "build_pdf", "export_overview",
           "mail_overview"]
