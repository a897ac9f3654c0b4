"""The contract-transfer form of a blocked merge, as a PDF (guide 004).

When names differ the merge needs a signed contract-transfer form. ``transfer_form`` builds it
(fpdf2, core fonts, so Latin-1) for the requester of the ``merge_blocked`` request only;
``save_transfer_form`` writes it into the export folder, ``mail_transfer_form`` mails it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from db.models import Customer, SupportRequest
from services import audit, mail
from services.caller import Caller
from services.errors import N_, NotFound, ValidationFailed
from services.files import pdf_text
from services.i18n import translate
from services.merge.actor import Actor, _actor
from services.merge.comparison import KIND_BLOCKED
from services.merge.diff import COMPARED, _value

if TYPE_CHECKING:
    from services.backend import Backend

MSG_NO_REQUEST = N_("This request was not found.")
MSG_NO_EMAIL = N_("No e-mail address is known for you. Please save the form instead.")


class FormFile(BaseModel):
    name: str
    data: bytes


def _own_request(db: DbSession, actor: Actor, reference: int) -> SupportRequest:
    request = db.get(SupportRequest, reference)
    mine = request is not None and request.kind == KIND_BLOCKED and (
        (actor.account_id is not None and request.account_id == actor.account_id)
        or (actor.account_id is None and request.account_id is None
            and request.customer_id == actor.customer_id))
    if not mine:
        raise NotFound(MSG_NO_REQUEST)
    assert request is not None
    return request



def _form_pdf(db: DbSession, request: SupportRequest, language: str) -> bytes:
    from fpdf import FPDF

    def t(msgid: str, **params: object) -> str:
        return pdf_text(translate(language, msgid, **params))

    details = request.details
    pdf = FPDF(format="A4")
    pdf.set_title(pdf_text(translate(language, FORM_TITLE)))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, t(FORM_TITLE), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, t(FORM_INTRO, reference=request.id), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for key, label in (("other_number", FORM_FROM), ("kept_number", FORM_TO)):
        customer = db.scalars(select(Customer).where(
            Customer.number == details.get(key))).first()
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 6, t(label, number=details.get(key, "")),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        if customer is not None:
            for field, field_label, _blocking in COMPARED[:6]:
                pdf.multi_cell(0, 5, f"{t(field_label)}: {pdf_text(_value(customer, field))}",
                               new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.multi_cell(0, 5, t(FORM_DECLARATION), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    for line in (FORM_SIGN_OLD, FORM_SIGN_NEW):
        pdf.multi_cell(0, 5, "_" * 60, new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 5, t(line), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(10)
    return bytes(pdf.output())


FORM_TITLE = N_("Contract transfer form")
FORM_INTRO = N_("Merging of customer numbers, reference {reference}. Please print this form, "
                "have it signed by both contract partners and send it to our service desk.")
FORM_FROM = N_("Previous contract partner (customer number {number})")
FORM_TO = N_("New contract partner (customer number {number})")
FORM_DECLARATION = N_("We agree that all contracts, licences and data of the previous contract "
                      "partner are transferred to the new contract partner.")
FORM_SIGN_OLD = N_("Place, date, signature of the previous contract partner")
FORM_SIGN_NEW = N_("Place, date, signature of the new contract partner")


def transfer_form(backend: Backend, token: str | None, reference: int, language: str = "de"
                  ) -> FormFile:
    """The contract-transfer form of a blocked merge as a PDF (only for its requester)."""
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=False)
        request = _own_request(db, actor, reference)
        data = _form_pdf(db, request, language)
        return FormFile(name=f"vertragsuebergabe-{request.id}.pdf", data=data)


def save_transfer_form(backend: Backend, token: str | None, reference: int,
                       language: str = "de") -> str:
    """Save the form into ``Settings.resolved_export_dir``; the path."""
    form = transfer_form(backend, token, reference, language)
    folder = Path(backend.settings.resolved_export_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / form.name
    path.write_bytes(form.data)
    return str(path)


def mail_transfer_form(backend: Backend, token: str | None, reference: int,
                       caller: Caller) -> str:
    """Mail the form (PDF attached) to the customer's address; the address."""
    language = caller.language or "de"
    form = transfer_form(backend, token, reference, language)
    with backend.transaction() as db:
        actor = _actor(db, backend, token, recent=False)
        request = _own_request(db, actor, reference)
        keep = db.get(Customer, request.customer_id) if request.customer_id else None
        to = actor.email or (keep.email if keep is not None else None)
        if not to:
            raise ValidationFailed(MSG_NO_EMAIL)
        mail.enqueue(db, to=to, template="merge_form", language=language,
                     params={"name": actor.name, "reference": str(request.id),
                             "kept": str(request.details.get("kept_number", "")),
                             "other": str(request.details.get("other_number", ""))},
                     attachment=(form.name, form.data))
        audit.record(db, "merge_form_mailed", actor_id=actor.account_id,
                     customer_id=request.customer_id, terminal_id=caller.terminal_id,
                     reference=request.id, now=backend.now())
        return to
