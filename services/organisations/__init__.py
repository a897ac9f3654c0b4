"""Organisations (guide 003): employees join their company's customer account.

Two ways in, both ending in the same completion (terms, privacy, password):

* **Self-registration** (``registration``) — ``check_company`` (e-mail, customer number and
  postal code of the company; a mismatch gets one neutral message and counts against the
  terminal), ``submit_registration`` (names, privacy statement, marketing consent; mails a
  confirmation code), ``redeem_code`` (the code at the kiosk: the request then waits for the
  company's super admins, who are told by mail); in ``approvals`` a super admin ``decide``s
  (approves or rejects, optionally with a reason; two simultaneous decisions: one wins, the
  other gets ``AlreadyDecided``).
* **Direct add** (``membership``) — ``add_contact`` (an admin enters name, e-mail and role).

After approval (or the direct add) the person gets the completion mail; ``redeem_code`` with
that code returns a short-lived ``finish`` token, and ``complete_registration``
(``completion``) stores the consents and the password (the accounts password policy): the
account is active.

Admins list ``members``, ``change_role`` and ``remove_member`` (``membership``; the last super
admin stays; removal ends the member's sessions). ``housekeeping`` (``reminders``) reminds the
super admins of requests older than 3 days and expires them after 30. Every step is audited,
never with a code. Shared pieces (roles, states, ``Result``, the admin check) are in ``common``;
the modules import downwards only: registration, approvals, membership -> completion -> common.

Membership states: pending_email → pending_approval → approved → active; rejected, expired,
invited (direct add, completion pending), removed. An applicant without an account yet gets a
stub account (status ``pending_approval`` / ``invited``, no password) that cannot log in; it is
removed again on rejection, expiry or removal before completion.

This package re-exports what other code uses, so ``from services import organisations``
followed by ``organisations.decide(...)`` and ``from services.organisations import X`` keep
working; new code may import from the flow's module directly.
"""

from __future__ import annotations

from services.organisations.approvals import (
    MAX_REASON,
    MSG_ALREADY_DECIDED,
    MSG_APPROVED,
    MSG_REJECTED,
    PAGE_SIZE,
    AlreadyDecided,
    PendingRequest,
    RequestPage,
    decide,
    pending_requests,
)
from services.organisations.approvals import _reason as _reason
from services.organisations.common import (
    ADMIN_ROLES,
    MSG_NOT_ADMIN,
    MSG_NOT_FOUND,
    MSG_NOT_SUPER_ADMIN,
    MSG_PRIVACY,
    ROLES,
    Result,
)
from services.organisations.completion import (
    MSG_COMPLETED,
    MSG_FINISH_EXPIRED,
    MSG_TERMS,
    complete_registration,
)
from services.organisations.membership import (
    MSG_ADDED,
    MSG_ALREADY_MEMBER,
    MSG_LAST_SUPER_ADMIN,
    MSG_REMOVED,
    MSG_ROLE,
    MSG_ROLE_CHANGED,
    ROLE_LABELS,
    STATE_LABELS,
    LastSuperAdmin,
    Member,
    Organisation,
    add_contact,
    change_role,
    members,
    my_organisations,
    remove_member,
)
from services.organisations.registration import (
    MSG_MISMATCH,
    MSG_REGISTERED,
    MSG_RESENT,
    MSG_WAITING,
    MSG_WAITING_DESK,
    CodeResult,
    CompanyMatch,
    check_company,
    redeem_code,
    redeem_link,
    resend_code,
    submit_registration,
    validate_company,
    validate_person,
)
from services.organisations.reminders import HousekeepingReport, housekeeping

__all__ = [
    "ADMIN_ROLES",
    "MAX_REASON",
    "MSG_ADDED",
    "MSG_ALREADY_DECIDED",
    "MSG_ALREADY_MEMBER",
    "MSG_APPROVED",
    "MSG_COMPLETED",
    "MSG_FINISH_EXPIRED",
    "MSG_LAST_SUPER_ADMIN",
    "MSG_MISMATCH",
    "MSG_NOT_ADMIN",
    "MSG_NOT_FOUND",
    "MSG_NOT_SUPER_ADMIN",
    "MSG_PRIVACY",
    "MSG_REGISTERED",
    "MSG_REJECTED",
    "MSG_REMOVED",
    "MSG_RESENT",
    "MSG_ROLE",
    "MSG_ROLE_CHANGED",
    "MSG_TERMS",
    "MSG_WAITING",
    "MSG_WAITING_DESK",
    "PAGE_SIZE",
    "ROLES",
    "ROLE_LABELS",
    "STATE_LABELS",
    "AlreadyDecided",
    "CodeResult",
    "CompanyMatch",
    "HousekeepingReport",
    "LastSuperAdmin",
    "Member",
    "Organisation",
    "PendingRequest",
    "RequestPage",
    "Result",
    "add_contact",
    "change_role",
    "check_company",
    "complete_registration",
    "decide",
    "housekeeping",
    "members",
    "my_organisations",
    "pending_requests",
    "redeem_code",
    "redeem_link",
    "remove_member",
    "resend_code",
    "submit_registration",
    "validate_company",
    "validate_person",
]
