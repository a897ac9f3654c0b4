"""Accounts of customers and agents, one module per flow:

* ``registration`` — the registration form and ``register`` (an unconfirmed account and a mailed
  code); ``purge_unverified`` removes registrations never confirmed;
* ``confirmation`` — ``verify_email`` / ``verify_email_link`` / ``resend_verification``: the
  mailed code confirms the address, then the customer number is linked or reviewed by hand;
* ``authentication`` — ``login``, ``login_agent``, ``logout`` (throttled, one argon2 check on
  every path);
* ``recovery`` — password reset by mailed code or link, and ``change_password``;
* ``email_change`` — ``request_email_change`` and ``confirm_email_change``;
* ``tokens`` — the mailed codes and link tokens all of these use (and ``services.organisations``,
  ``services.privacy``);
* ``forms`` — field checks shared by every form with a name, e-mail or address;
* ``common`` — the few pieces every flow shares (messages, ``RequestResult``,
  ``prepare_password``, ``_find_account``, ``raise_after_commit``).

The modules import downwards only: flows -> ``tokens`` / ``forms`` -> ``common``.

Every function takes the ``Backend`` (unit of work, clock, hasher, digester) and returns a
pydantic result or raises a ``DomainError`` whose ``fields`` name the form fields at fault
(type, username, email, password, password_confirm, salutation, first_name, last_name, street,
postal_code, city, country, customer_number, terms, code, identifier, current_password,
new_password). Messages are English msgids, translated where they are shown. Requests whose
answer must not tell whether an account exists (registration, password reset, resend) take at
least ``response_floor_ms`` (``services.timing``). The security properties of each flow (issue 3)
are described at the top of its module.

This package re-exports what other code uses, so ``from services import accounts`` followed by
``accounts.login(...)`` and ``from services.accounts import X`` keep working; new code may import
from the flow's module directly.
"""

from __future__ import annotations

from services.accounts.authentication import (
    MSG_LOGIN_FAILED,
    DeletionPending,
    EmailNotVerified,
    LoginResult,
    login,
    login_agent,
    login_limits,
    logout,
)
from services.accounts.common import (
    MSG_EMAIL_UNUSABLE,
    MSG_FORM,
    MSG_REQUIRED,
    RequestResult,
    prepare_password,
    raise_after_commit,
)
from services.accounts.common import _find_account as _find_account
from services.accounts.common import _validation as _validation
from services.accounts.confirmation import (
    MSG_RESENT,
    VerificationResult,
    resend_verification,
    verify_email,
    verify_email_link,
)
from services.accounts.email_change import (
    MSG_EMAIL_CHANGE_SENT,
    confirm_email_change,
    request_email_change,
)
from services.accounts.forms import (
    MSG_POSTAL,
    AddressChecks,
    clean_text,
    countries,
    field_errors,
    field_problem,
    normalize_email,
    postal_key,
)
from services.accounts.recovery import (
    MSG_RESET_DONE,
    change_password,
    request_password_reset,
    reset_password,
    reset_password_link,
)
from services.accounts.registration import (
    MSG_CONFIRM,
    MSG_REGISTER_WAIT,
    MSG_USERNAME,
    MSG_USERNAME_NUMBER,
    MSG_USERNAME_TAKEN,
    REGISTER_TERMINAL,
    RegistrationInput,
    RegistrationResult,
    purge_unverified,
    register,
    validate_registration,
)
from services.accounts.tokens import (
    MSG_CODE_INVALID,
    MSG_RESEND_WAIT,
    check_code,
    issue_token,
    live_link_token,
    public_url,
    request_allowed,
    use_token,
)

# The base class of the errors raised here (callers catch ``accounts.DomainError``).
from services.errors import DomainError

__all__ = [
    "MSG_CODE_INVALID",
    "MSG_CONFIRM",
    "MSG_EMAIL_CHANGE_SENT",
    "MSG_EMAIL_UNUSABLE",
    "MSG_FORM",
    "MSG_LOGIN_FAILED",
    "MSG_POSTAL",
    "MSG_REGISTER_WAIT",
    "MSG_REQUIRED",
    "MSG_RESEND_WAIT",
    "MSG_RESENT",
    "MSG_RESET_DONE",
    "MSG_USERNAME",
    "MSG_USERNAME_NUMBER",
    "MSG_USERNAME_TAKEN",
    "REGISTER_TERMINAL",
    "AddressChecks",
    "DeletionPending",
    "DomainError",
    "EmailNotVerified",
    "LoginResult",
    "RegistrationInput",
    "RegistrationResult",
    "RequestResult",
    "VerificationResult",
    "change_password",
    "check_code",
    "clean_text",
    "confirm_email_change",
    "countries",
    "field_errors",
    "field_problem",
    "issue_token",
    "live_link_token",
    "login",
    "login_agent",
    "login_limits",
    "logout",
    "normalize_email",
    "postal_key",
    "prepare_password",
    "public_url",
    "purge_unverified",
    "raise_after_commit",
    "register",
    "request_allowed",
    "request_email_change",
    "request_password_reset",
    "reset_password",
    "reset_password_link",
    "resend_verification",
    "use_token",
    "validate_registration",
    "verify_email",
    "verify_email_link",
]
