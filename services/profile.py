""""Meine Kundendaten": the account's own name, address and phone number, edited and audited.

``get_profile(backend, token)`` returns the data; ``update_profile(backend, token, data,
caller)`` validates every field with the same rules as the registration (names and street
without control characters, the postal code per country, ISO country codes) plus the phone
number with ``phonenumbers`` (stored in international format), and records the names of the
changed fields (never their values) in the audit log. The e-mail address is changed in
"Meine Einstellungen" (a confirmation code to the new address), so it is read-only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import phonenumbers
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator

from db.models import Account
from services import audit, sessions
from services.accounts import (
    MSG_FORM,
    AddressChecks,
    _fail,
    _text,
    field_errors,
)
from services.caller import Caller
from services.errors import N_, ValidationFailed

if TYPE_CHECKING:
    from services.backend import Backend

MSG_PHONE = N_("Please enter a valid phone number, e.g. +49 561 123456.")
MSG_SAVED = N_("Your data has been saved.")
MSG_UNCHANGED = N_("Nothing was changed.")
EDITABLE = ("salutation", "first_name", "last_name", "street", "postal_code", "city",
            "country", "phone")


class Profile(BaseModel):
    username: str | None
    email: str | None
    customer_type: str | None
    salutation: str | None
    first_name: str | None
    last_name: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    phone: str | None


class ProfileInput(AddressChecks):
    salutation: str | None = None
    first_name: str
    last_name: str
    street: str
    country: str = "DE"
    postal_code: str
    city: str
    phone: str | None = None

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str | None:
        text = _text(value, required=False, max_len=40)
        if text is None:
            return None
        return normalize_phone(text, info.data.get("country") or "DE")


def normalize_phone(text: str, country: str) -> str:
    """A valid phone number in international format (``+49 561 123456``), else a field error."""
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        raise _fail(MSG_PHONE) from None
    if not phonenumbers.is_valid_number(number):
        raise _fail(MSG_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def validate_profile(data: dict[str, Any]) -> ProfileInput:
    """The validated form, or ValidationFailed with every field error at once."""
    try:
        return ProfileInput.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None


def _profile(account: Account) -> Profile:
    return Profile(**{name: getattr(account, name) for name in Profile.model_fields})


def get_profile(backend: Backend, token: str | None) -> Profile:
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        return _profile(account)


class ProfileSaved(BaseModel):
    profile: Profile
    changed: list[str]
    message: str


def update_profile(backend: Backend, token: str | None, data: dict[str, Any],
                   caller: Caller | None = None) -> ProfileSaved:
    """Validate and save the own data; the changed field names go to the audit log."""
    form = validate_profile(data)
    caller = caller or Caller()
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        changed = []
        for name in EDITABLE:
            value = getattr(form, name)
            if getattr(account, name) != value:
                setattr(account, name, value)
                changed.append(name)
        if changed:
            audit.record(db, "profile_changed", actor_id=account.id,
                         terminal_id=row.terminal_id or caller.terminal_id,
                         fields=",".join(changed), now=backend.now())
        return ProfileSaved(profile=_profile(account), changed=changed,
                            message=MSG_SAVED if changed else MSG_UNCHANGED)


__all__ = ["Profile", "ProfileInput", "ProfileSaved", "get_profile", "normalize_phone",
           "update_profile", "validate_profile"]
