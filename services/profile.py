""""Meine Kundendaten": the account's own name, address and phone number, edited and audited.

``get_profile(backend, token)`` returns the data; ``update_profile(backend, token, data,
caller)`` validates every field with the same rules as the registration (names and street
without control characters, the postal code per country, ISO country codes) plus the phone
number with ``phonenumbers`` (stored in international format), and records the names of the
changed fields (never their values) in the audit log. The e-mail address is changed in
"Meine Einstellungen" (a confirmation code to the new address), so it is read-only here.

Further sections of the guide:

* phone numbers: ``add_phone`` / ``remove_contact`` — each number validated with
  ``phonenumbers`` for the chosen country and kept in international format; the account's
  main number (``Account.phone``) is the first of the list, the others are
  ``AccountContact`` rows (at most ``MAX_CONTACTS`` per kind, no duplicates);
* e-mail addresses: the login address (changed in the settings with a code) plus further
  contact addresses (``add_email`` / ``remove_contact``), syntactically checked;
* umbrella organisation (Dachverband), delivery method (e-mail | post) and payment method
  (invoice | SEPA direct debit with IBAN/BIC checked by ``schwifty``): ``update_billing``.
  The IBAN is only ever returned masked (``DE89 **** **** **** **30 00``).

Every change is audited with the names of the changed fields (and for contacts the kind),
never their values.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import phonenumbers
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from db.models import Account, AccountContact
from services import audit, sessions
from services.accounts import (
    MSG_FORM,
    AddressChecks,
    clean_text,
    field_errors,
    field_problem,
    normalize_email,
)
from services.caller import Caller
from services.errors import MSG_UNCHANGED, N_, NotFound, ValidationFailed
from services.normalize import email_key, text_input

if TYPE_CHECKING:
    from services.backend import Backend

MSG_PHONE = N_("Please enter a valid phone number, e.g. +49 561 123456.")
MSG_SAVED = N_("Your data has been saved.")
MSG_PHONE_ADDED = N_("The phone number was added.")
MSG_EMAIL_ADDED = N_("The e-mail address was added.")
MSG_REMOVED = N_("The entry was removed.")
MSG_DUPLICATE = N_("This entry is already in your list.")
MSG_TOO_MANY = N_("You can keep at most {count} entries here. Please remove one first.")
MSG_NOT_FOUND = N_("This entry no longer exists.")
MSG_CHOOSE = N_("Please choose one of the options.")
MSG_IBAN = N_("Please enter a valid IBAN, e.g. DE89 3704 0044 0532 0130 00.")
MSG_BIC = N_("Please enter a valid BIC (8 or 11 characters), e.g. COBADEFFXXX.")
MSG_IBAN_NEEDED = N_("For the SEPA direct debit we need your IBAN.")
EDITABLE = ("salutation", "first_name", "last_name", "street", "postal_code", "city",
            "country", "phone")
PHONE_LABELS = ("landline", "mobile", "work", "fax")
DELIVERY_METHODS = ("email", "post")
PAYMENT_METHODS = ("invoice", "direct_debit")
MAX_CONTACTS = 5
MAIN_PHONE = 0  # the id of the account's main number in ``Profile.phones``


class Contact(BaseModel):
    """One phone number or e-mail address of the lists; ``id`` 0 is the main one."""

    id: int
    kind: str
    label: str | None
    value: str


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
    phones: list[Contact] = []
    emails: list[Contact] = []
    umbrella_organisation: str | None = None
    delivery_method: str | None = None
    payment_method: str | None = None
    iban_masked: str | None = None
    bic: str | None = None


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
        text = clean_text(value, required=False, max_len=40)
        if text is None:
            return None
        return normalize_phone(text, info.data.get("country") or "DE")


def normalize_phone(text: str, country: str) -> str:
    """A valid phone number in international format (``+49 561 123456``), else a field error."""
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        raise field_problem(MSG_PHONE) from None
    if not phonenumbers.is_valid_number(number):
        raise field_problem(MSG_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def validate_profile(data: dict[str, Any]) -> ProfileInput:
    """The validated form, or ValidationFailed with every field error at once."""
    try:
        return ProfileInput.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None


def mask_iban(iban: str | None) -> str | None:
    """``DE89370400440532013000`` -> ``DE89 **** **** **** **30 00``: country, check digits
    and the last four characters stay visible."""
    if not iban:
        return None
    compact = iban.replace(" ", "")
    masked = compact[:4] + "*" * max(0, len(compact) - 8) + compact[-4:]
    return " ".join(masked[i:i + 4] for i in range(0, len(masked), 4))


def _contacts(db: DbSession, account_id: int, kind: str) -> list[AccountContact]:
    return list(db.scalars(select(AccountContact).where(
        AccountContact.account_id == account_id, AccountContact.kind == kind)
        .order_by(AccountContact.id)))


def _profile(db: DbSession, account: Account) -> Profile:
    rows = list(db.scalars(select(AccountContact).where(AccountContact.account_id == account.id)
                           .order_by(AccountContact.id)))
    phones = [Contact(id=MAIN_PHONE, kind="phone", label="main", value=account.phone)
              ] if account.phone else []
    emails = [Contact(id=MAIN_PHONE, kind="email", label="login", value=account.email)
              ] if account.email else []
    for row in rows:
        (phones if row.kind == "phone" else emails).append(
            Contact(id=row.id, kind=row.kind, label=row.label, value=row.value))
    fields = {name: getattr(account, name) for name in Profile.model_fields
              if hasattr(Account, name)}
    return Profile(**fields, phones=phones, emails=emails, iban_masked=mask_iban(account.iban))


def get_profile(backend: Backend, token: str | None) -> Profile:
    with backend.transaction() as db:
        _row, account = sessions.live(db, backend, token)
        return _profile(db, account)


class ProfileSaved(BaseModel):
    profile: Profile
    changed: list[str]
    message: str


@text_input()
def update_profile(backend: Backend, token: str | None, data: dict[str, Any],
                   caller: Caller | None = None) -> ProfileSaved:
    """Validate and save the own data; the changed field names go to the audit log."""
    form = validate_profile(data)
    caller = caller or Caller()
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        names = [n for n in EDITABLE if n != "phone" or "phone" in data]
        return _save(db, backend, row.terminal_id or caller.terminal_id, account, form, names)


def _save(db: DbSession, backend: Backend, terminal_id: str | None, account: Account,
          form: BaseModel, names: list[str] | tuple[str, ...]) -> ProfileSaved:
    """Copy the changed ``names`` from the validated form to the account; audit their names
    (never the values) in one ``profile_changed`` event."""
    changed = []
    for name in names:
        value = getattr(form, name)
        if getattr(account, name) != value:
            setattr(account, name, value)
            changed.append(name)
    if changed:
        audit.record(db, "profile_changed", actor_id=account.id, terminal_id=terminal_id,
                     fields=",".join(changed), now=backend.now())
    return ProfileSaved(profile=_profile(db, account), changed=changed,
                        message=MSG_SAVED if changed else MSG_UNCHANGED)


# --------------------------------------------------------------------------- phones, e-mails


def _field_error(field: str, exc: PydanticCustomError) -> ValidationFailed:
    return ValidationFailed(MSG_FORM, fields={field: exc.message()})


def _phone_value(text: str, country: str) -> tuple[str, str]:
    """(international format, E.164 key) or ValidationFailed on the field ``phone``."""
    try:
        value = clean_text(text, required=True, max_len=40)
        assert value is not None
        shown = normalize_phone(value, country or "DE")
    except PydanticCustomError as exc:
        raise _field_error("phone", exc) from None
    key = phonenumbers.format_number(phonenumbers.parse(shown), phonenumbers.PhoneNumberFormat.E164)
    return shown, key


def _phone_key(value: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(value, "DE"),
                                          phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return value


def _audit_contact(db: DbSession, backend: Backend, row_terminal: str | None, caller: Caller,
                   account: Account, action: str, kind: str) -> None:
    audit.record(db, "profile_changed", actor_id=account.id,
                 terminal_id=row_terminal or caller.terminal_id,
                 fields=f"{kind}s", change=action, now=backend.now())


def _flush_unique(db: DbSession, field: str) -> None:
    """Write now; the same entry added a moment ago by another terminal (the unique
    constraint) becomes the duplicate message instead of an internal error."""
    try:
        db.flush()
    except IntegrityError:
        raise ValidationFailed(MSG_FORM, fields={field: MSG_DUPLICATE}) from None


def _check_room(db: DbSession, account: Account, kind: str, field: str) -> None:
    if len(_contacts(db, account.id, kind)) >= MAX_CONTACTS - 1:
        raise ValidationFailed(MSG_FORM, fields={field: MSG_TOO_MANY},
                               params={"count": MAX_CONTACTS})


@text_input({"number": "phone"})
def add_phone(backend: Backend, token: str | None, number: str, country: str = "DE",
              label: str | None = None, caller: Caller | None = None) -> ProfileSaved:
    """Add a phone number (the first becomes the main number); no duplicates, at most
    ``MAX_CONTACTS``."""
    caller = caller or Caller()
    if label is not None and label not in PHONE_LABELS:
        raise ValidationFailed(MSG_FORM, fields={"phone_label": MSG_CHOOSE})
    shown, key = _phone_value(number, country)
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        taken = {_phone_key(account.phone)} if account.phone else set()
        taken |= {c.value_key for c in _contacts(db, account.id, "phone")}
        if key in taken:
            raise ValidationFailed(MSG_FORM, fields={"phone": MSG_DUPLICATE})
        if account.phone is None:
            account.phone = shown
        else:
            _check_room(db, account, "phone", "phone")
            db.add(AccountContact(account_id=account.id, kind="phone", label=label,
                                  value=shown, value_key=key, created_at=backend.now()))
        _audit_contact(db, backend, row.terminal_id, caller, account, "added", "phone")
        _flush_unique(db, "phone")
        return ProfileSaved(profile=_profile(db, account), changed=["phones"],
                            message=MSG_PHONE_ADDED)


@text_input({"address": "email"})
def add_email(backend: Backend, token: str | None, address: str,
              caller: Caller | None = None) -> ProfileSaved:
    """Add a further contact e-mail address (the login address is changed in the settings)."""
    caller = caller or Caller()
    try:
        value = normalize_email(address)
    except PydanticCustomError as exc:
        raise _field_error("email", exc) from None
    key = email_key(value)
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        taken = {account.email_key} | {c.value_key for c in _contacts(db, account.id, "email")}
        if key in taken:
            raise ValidationFailed(MSG_FORM, fields={"email": MSG_DUPLICATE})
        _check_room(db, account, "email", "email")
        db.add(AccountContact(account_id=account.id, kind="email", value=value, value_key=key,
                              created_at=backend.now()))
        _audit_contact(db, backend, row.terminal_id, caller, account, "added", "email")
        _flush_unique(db, "email")
        return ProfileSaved(profile=_profile(db, account), changed=["emails"],
                            message=MSG_EMAIL_ADDED)


def remove_contact(backend: Backend, token: str | None, kind: str, contact_id: int,
                   caller: Caller | None = None) -> ProfileSaved:
    """Remove a phone number or further e-mail address of the own account. Removing the
    main phone number promotes the next one; the login address cannot be removed here."""
    caller = caller or Caller()
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        if kind == "phone" and contact_id == MAIN_PHONE and account.phone:
            following = _contacts(db, account.id, "phone")
            account.phone = following[0].value if following else None
            if following:
                db.delete(following[0])
        else:
            deleted = db.execute(delete(AccountContact).where(
                AccountContact.id == contact_id, AccountContact.kind == kind,
                AccountContact.account_id == account.id)).rowcount or 0
            if not deleted:
                raise NotFound(MSG_NOT_FOUND)
        _audit_contact(db, backend, row.terminal_id, caller, account, "removed", kind)
        db.flush()
        return ProfileSaved(profile=_profile(db, account), changed=[f"{kind}s"],
                            message=MSG_REMOVED)


# --------------------------------------------------------------------------- billing


class BillingInput(BaseModel):
    """Umbrella organisation, delivery and payment method; IBAN/BIC for the direct debit."""

    umbrella_organisation: str | None = None
    delivery_method: str
    payment_method: str
    iban: str | None = None
    bic: str | None = None

    @field_validator("umbrella_organisation", mode="before")
    @classmethod
    def _umbrella(cls, value: Any) -> str | None:
        return clean_text(value, required=False, max_len=200)

    @field_validator("delivery_method", mode="before")
    @classmethod
    def _delivery(cls, value: Any) -> str:
        if value not in DELIVERY_METHODS:
            raise field_problem(MSG_CHOOSE)
        return str(value)

    @field_validator("payment_method", mode="before")
    @classmethod
    def _payment(cls, value: Any) -> str:
        if value not in PAYMENT_METHODS:
            raise field_problem(MSG_CHOOSE)
        return str(value)

    @field_validator("iban", mode="before")
    @classmethod
    def _iban(cls, value: Any) -> str | None:
        text = clean_text(value, required=False, max_len=50)
        if text is None:
            return None
        from schwifty import IBAN  # imported on first use: 8 MiB an idle kiosk never needs

        try:
            return IBAN(text).compact
        except ValueError:  # SchwiftyException is a ValueError
            raise field_problem(MSG_IBAN) from None

    @field_validator("bic", mode="before")
    @classmethod
    def _bic(cls, value: Any) -> str | None:
        text = clean_text(value, required=False, max_len=20)
        if text is None:
            return None
        from schwifty import BIC

        try:
            return str(BIC(text.replace(" ", "")).compact)
        except ValueError:
            raise field_problem(MSG_BIC) from None


def validate_billing(data: dict[str, Any]) -> BillingInput:
    """The validated form; the IBAN is required for the direct debit, the BIC is taken from
    the IBAN's bank when left empty (where schwifty knows it); on invoice both are dropped."""
    try:
        form = BillingInput.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(MSG_FORM, fields=field_errors(exc)) from None
    if form.payment_method != "direct_debit":
        return form.model_copy(update={"iban": None, "bic": None})
    if form.iban is None:
        raise ValidationFailed(MSG_FORM, fields={"iban": MSG_IBAN_NEEDED})
    if form.bic is None:
        from schwifty import IBAN

        try:
            bic = IBAN(form.iban).bic
        except ValueError:
            bic = None
        form = form.model_copy(update={"bic": str(bic.compact) if bic else None})
    return form


BILLING = ("umbrella_organisation", "delivery_method", "payment_method", "iban", "bic")


@text_input()
def update_billing(backend: Backend, token: str | None, data: dict[str, Any],
                   caller: Caller | None = None) -> ProfileSaved:
    """Save umbrella organisation, delivery and payment method. An empty IBAN field keeps
    the stored IBAN when the direct debit stays chosen (the form only ever shows it masked).
    The audit names the changed fields, never an IBAN."""
    caller = caller or Caller()
    keep_iban = data.get("payment_method") == "direct_debit" and not (data.get("iban") or "").strip()
    with backend.transaction() as db:
        row, account = sessions.live(db, backend, token)
        if keep_iban and account.iban:
            data = {**data, "iban": account.iban, "bic": data.get("bic") or account.bic}
        form = validate_billing(data)
        return _save(db, backend, row.terminal_id or caller.terminal_id, account, form,
                     BILLING)


# --------------------------------------------------------------------------- release notes

RELEASE_NOTES = Path(__file__).resolve().parent.parent / "assets" / "release_notes"


class ReleaseNote(BaseModel):
    """One version of "Versionsneuigkeiten": number, release date, what changed."""

    version: str
    date: dt.date
    changes: list[str]


@cache
def release_notes(language: str) -> list[ReleaseNote]:
    """The release notes in ``language`` (German when there is no file), newest first, from
    ``assets/release_notes/<language>.json``."""
    path = RELEASE_NOTES / f"{language}.json"
    if not path.exists():
        path = RELEASE_NOTES / "de.json"
    notes = [ReleaseNote.model_validate(item)
             for item in json.loads(path.read_text(encoding="utf-8"))]
    return sorted(notes, key=lambda note: note.date, reverse=True)


__all__ = ["DELIVERY_METHODS", "MAX_CONTACTS", "PAYMENT_METHODS", "PHONE_LABELS",
           "BillingInput", "Contact", "Profile", "ProfileInput", "ProfileSaved", "add_email",
           "add_phone", "get_profile", "mask_iban", "normalize_phone", "remove_contact",
           "ReleaseNote", "release_notes", "update_billing", "update_profile", "validate_billing",
    "validate_profile"]
