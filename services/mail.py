"""Mail: templates in German and English, an outbox written in the caller's transaction,
and delivery by SMTP with retries (nothing is lost when the server is away)."""

from __future__ import annotations

import datetime as dt
import functools
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import OutboxMail

TEMPLATES = Path(__file__).resolve().parent.parent / "assets" / "mail"
MAX_BACKOFF = dt.timedelta(hours=1)


class TemplateMissing(LookupError):
    pass


@functools.lru_cache(maxsize=256)
def _template(template: str, language: str) -> tuple[str, str]:
    """Subject line and body of a template file, read once per process."""
    path = TEMPLATES / language / f"{template}.txt"
    if not path.exists():
        path = TEMPLATES / "de" / f"{template}.txt"
    if not path.exists():
        raise TemplateMissing(template)
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n")
    if not head.startswith("Subject:"):
        raise TemplateMissing(f"{template}: first line must be 'Subject: …'")
    return head[len("Subject:"):].strip(), body.lstrip("\n")


def render(template: str, language: str, params: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of ``template`` in ``language`` (first line ``Subject: …``)."""
    subject, body = _template(template, language)
    values = {k: ("" if v is None else v) for k, v in params.items()}
    return subject.format_map(values), body.format_map(values)


def enqueue(
    session: Session,
    *,
    to: str,
    template: str,
    params: dict[str, Any],
    language: str = "de",
    attachment: tuple[str, bytes] | None = None,
) -> OutboxMail:
    """Write a mail to the outbox in the current transaction (sent only if it commits)."""
    subject, body = render(template, language, params)
    mail = OutboxMail(
        to=to,
        subject=subject,
        body=body,
        template=template,
        params={k: v for k, v in params.items() if isinstance(v, str | int | float | bool)},
        language=language,
    )
    if attachment:
        mail.attachment_name, mail.attachment = attachment
    session.add(mail)
    return mail


def outbox(session: Session, *, pending_only: bool = False) -> list[OutboxMail]:
    query = select(OutboxMail).order_by(OutboxMail.id)
    if pending_only:
        query = query.where(OutboxMail.sent_at.is_(None))
    return list(session.scalars(query))


def as_json(mail: OutboxMail) -> dict[str, Any]:
    return {
        "to": mail.to,
        "subject": mail.subject,
        "body": mail.body,
        "template": mail.template,
        "params": mail.params,
        "created_at": mail.created_at.isoformat(),
        "sent_at": mail.sent_at.isoformat() if mail.sent_at else None,
        "attachment": mail.attachment_name,
    }


class SmtpTarget:
    """``smtp://user:pass@host:port``, ``smtps://…`` or ``smtp://…?starttls=1``."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps"):
            raise ValueError("KIOSK_SMTP_URL must start with smtp:// or smtps://")
        self.ssl = parsed.scheme == "smtps"
        self.host = parsed.hostname or "localhost"
        self.port = parsed.port or (465 if self.ssl else 25)
        self.user = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.starttls = parse_qs(parsed.query).get("starttls", ["0"])[0] in ("1", "true")

    def connect(self, timeout: float = 10) -> smtplib.SMTP:
        if self.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=timeout)
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
        if self.user:
            client.login(self.user, self.password or "")
        return client


def _message(mail: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr(("", mail.to))
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="kundenkiosk")
    message.set_content(mail.body)
    if mail.attachment and mail.attachment_name:
        kind = {"pdf": "pdf", "zip": "zip"}.get(mail.attachment_name.rsplit(".", 1)[-1],
                                                  "octet-stream")
        main = "application"
        message.add_attachment(mail.attachment, maintype=main, subtype=kind,
                               filename=mail.attachment_name)
    return message


def deliver_pending(backend: Any, *, limit: int = 50) -> tuple[int, int]:
    """Send due mails; a failure is kept with a growing wait and tried again later.

    Returns (sent, failed). Each mail is marked in its own short transaction, so a crash
    in the middle never loses or doubles more than the one mail in flight.
    """
    url = backend.settings.smtp_url
    if not url:
        return (0, 0)
    target = SmtpTarget(url)
    now = backend.now()
    with backend.transaction() as session:
        due = list(
            session.scalars(
                select(OutboxMail.id)
                .where(OutboxMail.sent_at.is_(None))
                .where(or_(OutboxMail.next_attempt_at.is_(None), OutboxMail.next_attempt_at <= now))
                .order_by(OutboxMail.id)
                .limit(limit)
            )
        )
    if not due:
        return (0, 0)
    sent = failed = 0
    try:
        client = target.connect()
    except (OSError, smtplib.SMTPException) as exc:
        _mark_failed(backend, due, exc)
        return (0, len(due))
    try:
        for mail_id in due:
            with backend.transaction() as session:
                mail = session.get(OutboxMail, mail_id, with_for_update=not backend.is_sqlite)
                if mail is None or mail.sent_at is not None:
                    continue
                try:
                    client.send_message(_message(mail, backend.settings.mail_from))
                except (OSError, smtplib.SMTPException) as exc:
                    _fail(mail, exc, backend.now())
                    failed += 1
                else:
                    mail.sent_at = backend.now()
                    mail.attempts += 1
                    mail.last_error = None
                    scrub_delivered(mail)
                    sent += 1
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return sent, failed


#: What a delivered mail keeps as its body (#16): codes and links go with the delivery.
DELIVERED_BODY = "(delivered; text removed)"


def scrub_delivered(mail: OutboxMail) -> None:
    """A delivered mail keeps no code, link or attachment in the database (#16)."""
    mail.body, mail.params, mail.attachment = DELIVERED_BODY, {}, None


def _fail(mail: OutboxMail, exc: BaseException, now: dt.datetime) -> None:
    mail.attempts += 1
    mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
    wait = min(dt.timedelta(seconds=30 * 2 ** min(mail.attempts - 1, 10)), MAX_BACKOFF)
    mail.next_attempt_at = now + wait


def _mark_failed(backend: Any, ids: list[int], exc: BaseException) -> None:
    with backend.transaction() as session:
        for mail in session.scalars(select(OutboxMail).where(OutboxMail.id.in_(ids))):
            _fail(mail, exc, backend.now())
