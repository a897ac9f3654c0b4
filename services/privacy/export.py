"""The owner's data export (#16): "Meine Daten herunterladen".

``export_my_data`` asks for the password again, then writes the JSON and PDF of
``document.collect`` to the export directory or, in kiosk mode (``by_mail``), mails them to
the account's confirmed address as one ZIP attachment, so nothing stays on a shared terminal.
Once per ``data_export_interval_minutes`` (``count_export``: a counter in the throttle
table), audited (``data_export``). The desk's export for a customer at the counter
(``desk.desk_export``) uses the same counter, files and mail.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy.orm import Session as DbSession

from db.models import Account, Session
from services import accounts, audit, mail, sessions, throttle
from services.caller import Caller
from services.errors import N_, NotAllowed, StorageUnavailable, Throttled
from services.files import write_private
from services.i18n import format_date
from services.privacy.document import build_json, build_pdf, collect

if TYPE_CHECKING:
    from services.backend import Backend

MSG_EXPORT_WRITTEN = N_("Your data was saved as {json} and {pdf}.")
MSG_EXPORT_MAILED = N_("Your data was sent to {email} as a ZIP file (JSON and PDF).")
MSG_EXPORT_WAIT = N_("Your data can be downloaded once an hour. Please try again in "
                     "{minutes} minutes.")
MSG_NO_MAIL = N_("The account has no confirmed e-mail address, so the data cannot be sent.")
MSG_NO_DISK = N_("The export could not be saved. Please try again later or ask the staff.")


class ExportResult(BaseModel):
    json_path: str | None = None
    pdf_path: str | None = None
    email: str | None = None
    message: str
    params: dict[str, str] = {}


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


def count_export(db: DbSession, backend: Backend, account_id: int) -> None:
    """Once per interval per account (the counter lives in the throttle table)."""
    now, policy, key = backend.now(), _export_policy(backend), f"a{account_id}"
    state = throttle.check(db, "data_export", "account", key, policy, now)
    if not state.allowed(now):
        minutes = max(1, (state.wait_seconds(now) + 59) // 60)
        raise Throttled(MSG_EXPORT_WAIT, params={"minutes": minutes})
    throttle.fail(db, "data_export", "account", key, policy, now)


def export_files(backend: Backend, db: DbSession, account: Account, language: str
           ) -> tuple[str, dict[str, bytes]]:
    data = collect(db, account.id)
    data["created_at"] = backend.now().isoformat()
    name = sessions.display_name(account)
    stamp = backend.now().strftime("%Y%m%d-%H%M%S")
    base = f"meine-daten-{account.id}-{stamp}"
    return base, {f"{base}.json": build_json(data),
                  f"{base}.pdf": build_pdf(data, language, name, backend.now().date())}


def mail_export(db: DbSession, backend: Backend, account: Account, files: dict[str, bytes],
                 base: str) -> str:
    if not account.email or account.verified_at is None:
        raise NotAllowed(MSG_NO_MAIL)
    mail.enqueue(db, to=account.email, template="data_export", language=account.language,
                 params={"name": sessions.display_name(account),
                         "date": format_date(backend.now().date(), account.language)},
                 attachment=(f"{base}.zip", _zip(files)))
    return account.email


def owner_with_password(db: DbSession, backend: Backend, token: str | None, password: str
                        ) -> tuple[Session, Account]:
    """The session's owner, who typed the password again (wrong ones count in the login
    throttle): the export and the deletion ask for it."""
    row, account = sessions.live(db, backend, token)
    if not password:
        raise accounts._validation("password", accounts.MSG_REQUIRED)
    sessions.check_password_throttled(db, backend, account, accounts.prepare_password(password),
                                      row.terminal_id, field="password")
    return row, account


def export_my_data(backend: Backend, token: str | None, password: str, caller: Caller, *,
                   by_mail: bool = False) -> ExportResult:
    """The password again, then the JSON and PDF files (or one mail in kiosk mode)."""
    with backend.transaction() as db:
        row, account = owner_with_password(db, backend, token, password)
        row.reauth_at = backend.now()
        count_export(db, backend, account.id)
        base, files = export_files(backend, db, account, caller.language)
        via = "mail" if by_mail else "file"
        if by_mail:
            email = mail_export(db, backend, account, files, base)
            result = ExportResult(email=email, message=MSG_EXPORT_MAILED,
                                  params={"email": email})
        else:
            folder = backend.settings.resolved_export_dir
            try:
                folder.mkdir(parents=True, exist_ok=True)
                paths = {}
                for filename, content in files.items():
                    path = folder / filename
                    write_private(path, content)
                    paths[filename.rsplit(".", 1)[1]] = str(path)
            except OSError as exc:
                raise StorageUnavailable(MSG_NO_DISK) from exc
            result = ExportResult(json_path=paths["json"], pdf_path=paths["pdf"],
                                  message=MSG_EXPORT_WRITTEN, params=paths)
        audit.record(db, "data_export", actor_id=account.id, terminal_id=caller.terminal_id,
                     via=via, now=backend.now())
        return result
