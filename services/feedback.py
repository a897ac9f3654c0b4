"""Help-article feedback: "War dieser Artikel hilfreich? Ja / Nein" (guide 004)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from db.models import Feedback
from services.backend import Backend, Caller
from services.errors import N_, ValidationFailed
from services.normalize import text_input

#: Reason codes and their msgids, in the order of the guide.
REASONS: dict[str, str] = {
    "unclear": N_("Information unclear or incomplete"),
    "wrong": N_("Information incorrect"),
    "not_my_problem": N_("Article does not cover my problem"),
    "too_long": N_("Article too long"),
}
COMMENT_MAX = 2000


class FeedbackInput(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, frozen=True)

    article: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    helpful: bool
    reason: str | None = None
    comment: str | None = Field(default=None, max_length=COMMENT_MAX)

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, value: str | None) -> str | None:
        if value is not None and value not in REASONS:
            raise ValueError("unknown reason")
        return value

    @field_validator("comment")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class FeedbackResult(BaseModel):
    id: int
    article: str
    helpful: bool
    reason: str | None
    comment: str | None
    language: str
    terminal_id: str | None
    created_at: dt.datetime


_FIELD_MESSAGES = {
    "comment": N_("The comment may have at most {max} characters."),
    "reason": N_("Please choose a reason."),
    "article": N_("This help article does not exist."),
}


def _validate(**data: object) -> FeedbackInput:
    try:
        return FeedbackInput(**data)  # type: ignore[arg-type]
    except ValidationError as exc:
        fields = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            fields[name] = _FIELD_MESSAGES.get(name, N_("Please check this entry."))
        raise ValidationFailed(
            N_("Please check your entries."), fields=fields, params={"max": COMMENT_MAX}
        ) from exc


@text_input()
def submit_feedback(
    backend: Backend,
    *,
    article: str,
    helpful: bool,
    reason: str | None = None,
    comment: str | None = None,
    caller: Caller | None = None,
) -> FeedbackResult:
    """Store one feedback; a helpful answer carries no reason."""
    data = _validate(article=article, helpful=helpful, reason=None if helpful else reason,
                     comment=comment)
    caller = caller or Caller()
    with backend.transaction() as session:
        row = Feedback(
            article=data.article, helpful=data.helpful, reason=data.reason,
            comment=data.comment, language=caller.language[:5],
            terminal_id=caller.terminal_id[:64] if caller.terminal_id else None,
            created_at=backend.now(),
        )
        session.add(row)
        session.flush()
        return _result(row)


def list_feedback(backend: Backend, *, article: str | None = None) -> list[FeedbackResult]:
    with backend.transaction() as session:
        query = select(Feedback).order_by(Feedback.id)
        if article:
            query = query.where(Feedback.article == article)
        return [_result(row) for row in session.scalars(query)]


def _result(row: Feedback) -> FeedbackResult:
    return FeedbackResult(
        id=row.id, article=row.article, helpful=row.helpful, reason=row.reason,
        comment=row.comment, language=row.language, terminal_id=row.terminal_id,
        created_at=row.created_at,
    )
