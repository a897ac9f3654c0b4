"""Typed domain errors: a code, a translatable message and the fields at fault.

Also the home of messages that several services answer with (a msgid is defined once, so
the German catalogs hold it once): ``MSG_UNCHANGED`` when a form was saved unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


#: A form was saved, but nothing in it differed from what is stored (profile, customer data).
MSG_UNCHANGED = N_("Nothing was changed.")


class DomainError(Exception):
    """A failure the user can act on. ``message`` is an English msgid, translated on display.

    ``fields`` maps a form field name to its own msgid, so the screen can show each error
    beside its field; ``params`` fill ``{placeholders}`` in the messages.
    """

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = dict(fields or {})
        self.params = dict(params or {})

    def __str__(self) -> str:
        return self.message.format(**self.params) if self.params else self.message


class ValidationFailed(DomainError):
    code = "invalid"


class NotAllowed(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Throttled(DomainError):
    code = "throttled"


class AuthFailed(DomainError):
    code = "auth_failed"


class StorageUnavailable(DomainError):
    """The database cannot be reached or written: one clear sentence, retry later."""

    code = "storage"
