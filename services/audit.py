"""The append-only audit log. Every security event goes here — never a secret."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEvent

# Detail keys that could carry a secret are refused outright.
_SECRET_KEYS = re.compile(r"pass|code|key|token|secret|hash|credential", re.IGNORECASE)
_ALLOWED = {"customer_type", "key_kind", "product_key"}


def record(
    session: Session,
    event: str,
    *,
    actor_id: int | None = None,
    customer_id: int | None = None,
    terminal_id: str | None = None,
    outcome: str = "ok",
    now: Any = None,
    **details: Any,
) -> AuditEvent:
    """Append one event in the caller's transaction."""
    for name in details:
        if _SECRET_KEYS.search(name) and name not in _ALLOWED:
            raise ValueError(f"audit detail {name!r} looks like a secret and is not logged")
    entry = AuditEvent(
        event=event,
        outcome=outcome,
        actor_id=actor_id,
        customer_id=customer_id,
        terminal_id=terminal_id,
        details={k: v for k, v in details.items() if v is not None},
    )
    if now is not None:
        entry.at = now
    session.add(entry)
    return entry


def events(session: Session, *, event: str | None = None, limit: int = 200) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if event:
        query = query.where(AuditEvent.event == event)
    return list(session.scalars(query))
