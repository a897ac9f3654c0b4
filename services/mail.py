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
from services.normalize import one_line

TEMPLATES = Path(__file__).resolve().parent.parent / "assets" / "mail"
MAX_BACKOFF = dt.timedelta(hours=1)
#: A mail that can never be sent (its headers cannot be built, the server refuses it for good)
#: is marked failed: ``last_error`` starts with this and it is not tried again.
FAILED = "failed: "
NEVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


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
    # A header is one line: a company name with a line break must not break (or forge) it.
    return one_line(subject.format_map(values))[:300], body.format_map(values)


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
        "state": state(mail),
        "error": mail.last_error,
    }


def state(mail: OutboxMail) -> str:
    """``sent``, ``pending`` (waiting or to retry) or ``failed`` (never tried again)."""
    if mail.sent_at is not None:
        return "sent"
    return "failed" if (mail.last_error or "").startswith(FAILED) else "pending"


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


class Undeliverable(ValueError):
    """This mail can never be sent as it is (e.g. a recipient address with a line break)."""


def address(name: object, mailbox: str) -> str:
    """``Name <mailbox>`` for a header: the display name as one safe line; a mailbox with
    control characters or spaces is refused (it would change whom the mail goes to)."""
    if one_line(mailbox) != mailbox or " " in mailbox or "@" not in mailbox:
        raise Undeliverable("the recipient address is not valid")
    return formataddr((one_line(name), mailbox))


def _message(mail: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = one_line(sender)
    message["To"] = address("", mail.to)
    message["Subject"] = one_line(mail.subject)
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
    client: smtplib.SMTP | None
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
                    message = _message(mail, backend.settings.mail_from)
                    message.as_bytes()  # every header and part can be encoded
                except Exception as exc:  # noqa: BLE001 - one bad mail never stops the others
                    _give_up(mail, exc, backend.now())
                    failed += 1
                    continue
                try:
                    client.send_message(message)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError) as exc:
                    _give_up(mail, exc, backend.now())
                    failed += 1
                except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                    (_give_up if 500 <= exc.smtp_code < 600 else _fail)(mail, exc, backend.now())
                    failed += 1
                except (OSError, smtplib.SMTPException) as exc:
                    _fail(mail, exc, backend.now())
                    failed += 1
                    if isinstance(exc, OSError | smtplib.SMTPServerDisconnected):
                        client = _reconnect(target, client)
                        if client is None:
                            break  # the rest stays due and is tried in the next round
                except Exception as exc:  # noqa: BLE001 - one bad mail never stops the others
                    _give_up(mail, exc, backend.now())
                    failed += 1
                else:
                    mail.sent_at = backend.now()
                    mail.attempts += 1
                    mail.last_error = None
                    scrub_delivered(mail)
                    sent += 1
    finally:
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                pass
    return sent, failed


def _reconnect(target: SmtpTarget, client: smtplib.SMTP) -> smtplib.SMTP | None:
    try:
        client.close()
        return target.connect()
    except (OSError, smtplib.SMTPException):
        return None


def reason(mail: OutboxMail, exc: BaseException) -> str:
    """Why a mail failed, as one line without a secret: the mail's own codes and links
    (its params) are cut out of the error text."""
    text = one_line(f"{type(exc).__name__}: {exc}")
    for value in (mail.params or {}).values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "…")
    return text[:500]


def _give_up(mail: OutboxMail, exc: BaseException, now: dt.datetime) -> None:
    """Mark ``mail`` failed for good (with its reason): it never blocks the others."""
    mail.attempts += 1
    mail.last_error = FAILED + reason(mail, exc)
    mail.next_attempt_at = NEVER
#: What a delivered mail keeps as its body (#16): codes and links go with the delivery.
DELIVERED_BODY = "(delivered; text removed)"


def scrub_delivered(mail: OutboxMail) -> None:
    """A delivered mail keeps no code, link or attachment in the database (#16)."""
    mail.body, mail.params, mail.attachment = DELIVERED_BODY, {}, None


def _fail(mail: OutboxMail, exc: BaseException, now: dt.datetime) -> None:
    mail.attempts += 1
    mail.last_error = reason(mail, exc)
    wait = min(dt.timedelta(seconds=30 * 2 ** min(mail.attempts - 1, 10)), MAX_BACKOFF)
    mail.next_attempt_at = now + wait


def _mark_failed(backend: Any, ids: list[int], exc: BaseException) -> None:
    with backend.transaction() as session:
        for mail in session.scalars(select(OutboxMail).where(OutboxMail.id.in_(ids))):
            _fail(mail, exc, backend.now())
