"""Data protection (#16): "Meine Daten herunterladen", "Benutzerkonto löschen" and the desk's part.

Export (GDPR Art. 15/20)
    ``export_my_data(backend, token, password, caller, by_mail=...)`` — after the password
    again: everything stored about the account as JSON (``collect``: one section per table,
    named after it) and a readable PDF summary of the same. Written to the export directory,
    or (kiosk mode, and always from the desk: ``desk_export``) mailed to the account's
    confirmed address as one ZIP attachment, so nothing stays on a shared terminal. Columns
    that hold secrets (hashes, digests, tokens, secrets) are never exported; mails are listed
    without their body (which carried codes). Once per ``data_export_interval_minutes``
    (a counter in the throttle table), audited (``data_export``).

Deletion (Art. 17)
    ``deletion_preview`` says what will happen; ``request_deletion`` (password again) refuses
    while the account is the last super admin of a company, otherwise locks the account at
    once (status ``deletion_pending``), ends its sessions and mails a cancel link.
    For ``deletion_wait_days`` the owner can cancel: logging in offers it
    (``accounts.DeletionPending`` → ``cancel_deletion_login``; with a second factor after the
    code, ``cancel_deletion_after_code``), or the mailed link
    (``cancel_deletion_link``, answered by ``kiosk serve`` at /cancel-deletion/<token>).
    Then ``erase_due`` (housekeeping) erases it: personal fields emptied (the row stays as a
    tombstone so that ids elsewhere stay valid; e-mail address and user name are free for a
    new registration), links to customer numbers, contracts and licences released,
    memberships ended, contacts, codes, sessions, throttle counters and outbox mails removed,
    the account's audit entries pseudonymised (the actor id stays; names, addresses and notes
    go — see migration 0009). The company's own records (customer numbers, contracts, merge
    orders) stay.

Desk (four-eyes)
    ``desk_export`` mails the export for a customer who proved their identity at the desk
    (the agent never sees it). ``desk_request_deletion`` opens a request in the "Datenschutz"
    queue (``KIND_PRIVACY``); ``desk_decide_deletion`` by a supervisor other than the one who
    asked confirms (the deletion is scheduled as above) or rejects it. All audited.

The package, one idea a module (each imports only those above it):

``document``  what the export holds: ``collect``, and the JSON and PDF built from it
``export``    the owner's export: password, once an interval, files or mail
``deletion``  the owner's deletion: preview, request, the wait, cancelling it
``desk``      the desk's export and four-eyes deletion ("Datenschutz" queue)
``erasure``   carrying out due deletions (housekeeping)

Callers import the names below from ``services.privacy``.
"""

from __future__ import annotations

from services.privacy.deletion import (
    DELETED,
    MSG_DELETION_CANCELLED,
    MSG_LAST_SUPER_ADMIN,
    PENDING,
    DeletionPreview,
    DeletionResult,
    cancel_deletion_after_code,
    cancel_deletion_link,
    cancel_deletion_login,
    deletion_preview,
    pending_deletion_date,
    request_deletion,
)
from services.privacy.desk import (
    KIND_PRIVACY,
    desk_decide_deletion,
    desk_export,
    desk_request_deletion,
)
from services.privacy.document import collect, covered_tables
from services.privacy.erasure import erase_due
from services.privacy.export import ExportResult, export_my_data

__all__ = ["DELETED", "KIND_PRIVACY", "MSG_DELETION_CANCELLED", "MSG_LAST_SUPER_ADMIN",
           "PENDING", "DeletionPreview", "DeletionResult", "ExportResult",
           "cancel_deletion_after_code", "cancel_deletion_link",
           "cancel_deletion_login", "collect", "covered_tables",
           "deletion_preview", "desk_decide_deletion", "desk_export", "desk_request_deletion",
           "erase_due", "export_my_data", "pending_deletion_date", "request_deletion"]
