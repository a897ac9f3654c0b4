"""The service desk's actions under their public name (#9); written in
``services.backoffice.actions``: a new activation code with its letter, unfreeze a code,
unlock an account, resend a confirmation, start a password reset, end a user's sessions,
reassign a customer number and reverse a merge (supervisors).
"""

from __future__ import annotations

from services.backoffice.actions import (
    ActionResult,
    IssuedCode,
    end_sessions,
    issue_activation_code,
    linked_account_choices,
    reassign_number,
    resend_confirmation,
    reverse_merge,
    start_password_reset,
    unfreeze_code,
    unlock_account,
)
from services.backoffice.common import customer_name

__all__ = ["ActionResult", "IssuedCode", "customer_name", "end_sessions",
           "issue_activation_code", "linked_account_choices", "reassign_number",
           "resend_confirmation", "reverse_merge", "start_password_reset", "unfreeze_code",
           "unlock_account"]

