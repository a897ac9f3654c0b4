"""Merging two customer numbers: "Kundennummern zusammenführen" (guide 004).

The wizard (screens/merge.py) calls, in this order:

1. ``options(backend, token)`` — the numbers that may be kept: the account's linked numbers,
   or, in a session opened with a customer number, that number only (it is always kept);
2. ``compare(backend, token, keep, other, credential, caller)`` — the proof that ``other``
   belongs to the customer (its customer password or a valid Freischaltcode, checked in
   constant time; the attempt is reserved first on the limits of linking by code; one neutral
   message for every wrong proof), then the comparison field by field. When company, first or
   last name differ the merge is blocked: a ``SupportRequest`` of kind ``merge_blocked`` is
   queued (once per pair) and the contract-transfer form can be saved or mailed as a PDF
   (``save_transfer_form`` / ``mail_transfer_form``);
3. ``submit(backend, token, keep, other, credential, take_over, caller)`` — the merge order in
   one transaction under row locks on both records; ``reverse_merge`` (the back office, within
   30 days) restores what it moved.

One module per part, importing one way only (each imports only modules above it here):

- ``actor``: who runs the wizard (an account or a customer-number session), step 1, re-entry
  of the password;
- ``proof``: the proof for the other number under its guessing limits, the ownership rules
  for a pair, the row lock on both records;
- ``diff``: the field-by-field comparison table and which differences block;
- ``comparison``: step 2, and the desk request of a blocked merge;
- ``order``: step 3, what the order moves and fills in;
- ``reversal``: undoing an order in the back office;
- ``form``: the contract-transfer form as a PDF, saved or mailed.

Names with an underscore are shared inside the package only. The names below are the
package's face: what screens, other services, tests and benchmarks use, importable as
``services.merge.<name>`` as before the split (``_execute`` for benchmarks/bench_merge.py).
A test that replaces a helper patches it in the module that calls it (e.g.
``services.merge.order._move_memberships``), not here.
"""

from __future__ import annotations

from services.merge.actor import MergeOptions, options, reauthenticate, require_recent_auth
from services.merge.comparison import Comparison, compare
from services.merge.diff import MSG_BLOCKED, DiffRow, diff_rows
from services.merge.form import mail_transfer_form, save_transfer_form, transfer_form
from services.merge.order import MergeResult, submit
from services.merge.order import _execute as _execute  # benchmarks/bench_merge.py
from services.merge.proof import (
    MSG_ALREADY_MERGED,
    MSG_FROZEN,
    MSG_HAS_ACCOUNT,
    MSG_OTHER_ACCOUNT,
    MSG_PROOF,
)
from services.merge.reversal import MSG_TOO_LATE, REVERSE_DAYS, ReverseResult, reverse_merge

__all__ = [
    "MSG_ALREADY_MERGED", "MSG_BLOCKED", "MSG_FROZEN", "MSG_HAS_ACCOUNT", "MSG_OTHER_ACCOUNT",
    "MSG_PROOF", "MSG_TOO_LATE", "REVERSE_DAYS",
    "Comparison", "DiffRow", "MergeOptions", "MergeResult", "ReverseResult",
    "compare", "diff_rows", "mail_transfer_form", "options", "reauthenticate",
    "require_recent_auth", "reverse_merge", "save_transfer_form", "submit", "transfer_form",
]
