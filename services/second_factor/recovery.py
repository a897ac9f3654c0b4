"""Recovery codes of the second factor (#15): ten one-time codes, shown once, and their letter.

The codes stand in for the authenticator app's code when the phone is lost. They are kept as
keyed digests (``recovery_digest``: HMAC of account id and code); each works once
(``use_recovery``: one conditional UPDATE). Confirming an enrolment and ``new_recovery_codes``
replace all of an account's codes (``replace_recovery_codes``); ``write_recovery_letter``
puts the account's unused ones into a PDF in the export directory (never mailed).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session as DbSession

from db.models import RecoveryCode
from services import audit, sessions
from services.crypto import CODE_ALPHABET, normalize_code
from services.errors import N_, Conflict, StorageUnavailable, ValidationFailed
from services.files import write_private
from services.second_factor.factor import MSG_NOT_ON, has_factor

if TYPE_CHECKING:
    from services.backend import Backend
    from services.caller import Caller

RECOVERY_COUNT = 10
RECOVERY_LENGTH = 10
MSG_LETTER_WRITTEN = N_("The recovery codes were saved as {path}.")
MSG_LETTER_CODES = N_("These recovery codes are not valid (any more).")
MSG_NO_DISK = N_("The file could not be written. Please ask the staff.")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class LetterResult(BaseModel):
    path: str
    message: str = MSG_LETTER_WRITTEN
    params: dict[str, str] = {}


def _recovery_digest(backend: Backend, account_id: int, code: str) -> str:
    return backend.digester.digest("recovery_code", f"{account_id}:{normalize_code(code)}")


def format_recovery(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def replace_recovery_codes(db: DbSession, backend: Backend, account_id: int) -> list[str]:
    """Replace the account's recovery codes by ten new ones (returned once, formatted)."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    now = backend.now()
    codes: list[str] = []
    while len(codes) < RECOVERY_COUNT:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(RECOVERY_LENGTH))
        if code not in codes:
            codes.append(code)
    db.add_all(RecoveryCode(account_id=account_id, created_at=now,
                            code_digest=_recovery_digest(backend, account_id, code))
               for code in codes)
    return [format_recovery(code) for code in codes]


def recovery_left(db: DbSession, account_id: int) -> int:
    return db.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None))) or 0


def use_recovery(db: DbSession, backend: Backend, account_id: int, code: str) -> bool:
    cleaned = normalize_code(code)
    if len(cleaned) != RECOVERY_LENGTH:
        return False
    result = db.execute(update(RecoveryCode).where(
        RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None),
        RecoveryCode.code_digest == _recovery_digest(backend, account_id, cleaned),
    ).values(used_at=backend.now()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def new_recovery_codes(backend: Backend, token: str | None, caller: Caller) -> RecoveryCodes:
    """Ten new recovery codes (the old ones stop working); needs the password recently."""
    with backend.transaction() as db:
        _row, account = sessions.live_recent(db, backend, token)
        if not has_factor(db, account.id):
            raise Conflict(MSG_NOT_ON)
        codes = replace_recovery_codes(db, backend, account.id)
        audit.record(db, "recovery_codes_renewed", actor_id=account.id,
                     terminal_id=caller.terminal_id, now=backend.now())
        return RecoveryCodes(recovery_codes=codes)


def write_recovery_letter(backend: Backend, token: str | None, codes: list[str],
                          caller: Caller) -> LetterResult:
    """The recovery codes as a PDF letter in the export directory (never mailed). Only
    codes that are the account's unused ones are written."""

    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        digests = {r for r in db.scalars(select(RecoveryCode.code_digest).where(
            RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None)))}
        if not codes or any(_recovery_digest(backend, account.id, c) not in digests
                            for c in codes):
            raise ValidationFailed(MSG_LETTER_CODES)
        name = account.username or account.email or ""
        account_id = account.id
    stamp = backend.now().strftime("%Y%m%d-%H%M%S")
    folder = backend.settings.resolved_export_dir
    path = folder / f"wiederherstellungscodes-{account_id}-{stamp}.pdf"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_private(path, build_letter_pdf(caller.language, name, codes, backend.now()))
    except OSError as exc:
        raise StorageUnavailable(MSG_NO_DISK) from exc
    with backend.transaction() as db:
        audit.record(db, "recovery_letter_written", actor_id=account_id,
                     terminal_id=caller.terminal_id, now=backend.now())
    return LetterResult(path=str(path), params={"path": str(path)})


LETTER_TITLE = N_("Recovery codes for your second factor")
LETTER_BODY = N_("Account: {name}. Created on {date}. Each code works once, in place of the "
                 "code from your authenticator app. Keep this letter somewhere safe and away "
                 "from your phone; creating new codes makes these invalid.")


def build_letter_pdf(language: str, name: str, codes: list[str], now: dt.datetime) -> bytes:
    """The letter with the recovery codes (fpdf2, core fonts: Latin-1)."""
    from fpdf import FPDF

    from services.i18n import translate

    def latin(text: str) -> str:
        return text.encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF(format="A4")
    pdf.set_title(latin(translate(language, LETTER_TITLE)))
    pdf.set_creator("Kundenkiosk")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(0, 10, latin(translate(language, LETTER_TITLE)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, latin(translate(language, LETTER_BODY, name=name,
                                         date=now.strftime("%d.%m.%Y"))))
    pdf.ln(4)
    pdf.set_font("Courier", style="B", size=14)
    for number, code in enumerate(codes, 1):
        pdf.cell(0, 9, f"{number:2d}.  {latin(code)}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
