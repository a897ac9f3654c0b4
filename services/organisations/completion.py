"""The last step of both ways in (self-registration after approval, and the admin's direct add):
the completion mail (its code stays valid for ``COMPLETE_VALID``, 14 days) and
``complete_registration`` — terms, privacy statement and the new password (the accounts
password policy) with the short-lived ``finish`` token from ``redeem_code``: the account is
active.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session as DbSession

from db.models import Account, Consent, Customer
from services import audit, mail
from services.accounts.common import MSG_FORM, prepare_password, raise_after_commit
from services.accounts.registration import MSG_CONFIRM
from services.accounts.tokens import check_code, public_url
from services.caller import Caller
from services.errors import N_, DomainError, ValidationFailed
from services.normalize import text_input
from services.organisations.common import (
    COMPLETE_VALID,
    MSG_PRIVACY,
    PURPOSE_FINISH,
    Result,
    _company_name,
    _name,
    _stub_and_membership,
)
from services.passwords import check_password

if TYPE_CHECKING:
    from services.backend import Backend


MSG_TERMS = N_("Please accept the terms of use.")
MSG_FINISH_EXPIRED = N_("This step took too long. Please request a new code and start again.")
MSG_COMPLETED = N_("Your registration is complete. You can now log in with your e-mail address "
                   "and your new password.")


def _mail_complete(db: DbSession, backend: Backend, account: Account, customer: Customer,
                   code: str, link: str) -> None:
    mail.enqueue(db, to=account.email or "", template="org_complete", language=account.language,
                 params={"code": code, "link": public_url(backend, "org/complete", link),
                         "name": _name(account), "company": _company_name(customer),
                         "days": COMPLETE_VALID.days})


@text_input()
def complete_registration(backend: Backend, email: str, finish: str, data: Mapping[str, Any],
                          caller: Caller) -> Result:
    """Terms, privacy statement and the new password: the account becomes active."""
    password = str(data.get("password") or "")
    fields: dict[str, str] = {}
    if data.get("terms") is not True:
        fields["terms"] = MSG_TERMS
    if data.get("privacy") is not True:
        fields["privacy"] = MSG_PRIVACY
    with backend.transaction() as db:
        found = _stub_and_membership(db, email)
        names = (found[0].first_name, found[0].last_name) if found else (None, None)
    problems = check_password(password, email=email, first_name=names[0], last_name=names[1])
    if problems:
        fields["password"] = problems[0]
    if password and data.get("password_confirm") != password:
        fields["password_confirm"] = MSG_CONFIRM
    if fields:
        raise ValidationFailed(next(iter(fields.values())) if len(fields) == 1 else MSG_FORM,
                               fields=fields)
    password_hash = backend.hasher.hash(prepare_password(password))
    now = backend.now()
    settings = backend.settings
    with backend.transaction() as db:
        found = _stub_and_membership(db, email)
        if found is None or found[1].state not in ("approved", "invited") or check_code(
                db, backend, found[0], PURPOSE_FINISH, finish) is None:
            audit.record(db, "org_completion", outcome="failed", terminal_id=caller.terminal_id,
                         now=now)
            raise_after_commit(db, DomainError(MSG_FINISH_EXPIRED, code="finish_expired"))
        assert found is not None
        account, membership = found
        account.password_hash = password_hash
        account.password_changed_at = now
        account.status = "active"
        account.verified_at = account.verified_at or now
        membership.state = "active"
        for kind, version in (("terms", settings.terms_version),
                              ("privacy", settings.privacy_version)):
            db.add(Consent(account_id=account.id, kind=kind, granted=True, text_version=version,
                           terminal_id=caller.terminal_id, created_at=now))
        audit.record(db, "org_completion", actor_id=account.id,
                     customer_id=membership.customer_id, terminal_id=caller.terminal_id,
                     role=membership.role, now=now)
    return Result(message=MSG_COMPLETED, params={"email": email})
