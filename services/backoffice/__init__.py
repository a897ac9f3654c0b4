"""Service-desk back office (#9): what agents and supervisors do for customers.

Every function takes the agent's session token and checks, inside its transaction, that the
session belongs to an agent or supervisor (``agent_session``); supervisor-only actions pass
``supervisor=True``. A customer's token gets ``NotAllowed``: nothing here is reachable from a
customer session. Record text is returned as data; screens render it as plain text.

The package, one idea a module (each imports only those above it):

``common``         the agent check, record lookups, ``clean_note``, the shared messages
``search``         search as you type over records and accounts; jump to a number
``customer_view``  everything about one record (or portal account), in one transaction
``queues``         the work queues: count, list, take, comment, close
``dashboard``      queue sizes and the daily figures from the audit log
``actions``        what an agent changes (codes, unlocks, resets, reassign, reverse a merge);
                   callers use it as ``services.backoffice_actions``

Callers import the names below from ``services.backoffice``; the screens of the desk live in
``screens/backoffice/``.
"""

from __future__ import annotations

from services.backoffice.common import (
    MSG_CLOSED,
    AgentInfo,
    agent_session,
    clean_note,
    customer_name,
    whoami,
)
from services.backoffice.customer_view import (
    AccountRow,
    AccountView,
    CustomerView,
    account_view,
    customer_view,
    reveal_iban,
)
from services.backoffice.dashboard import DASHBOARD_DAYS, Dashboard, dashboard
from services.backoffice.queues import (
    QUEUES,
    REQUEST_KINDS,
    STALE_ORG,
    QueueItem,
    close,
    close_membership,
    comment,
    open_queue_counts,
    queue_counts,
    queue_items,
    take,
)
from services.backoffice.search import (
    MIN_QUERY,
    SEARCH_LIMIT,
    SearchHit,
    _union,
    account_search_statements,
    customer_search_statements,
    find_number,
    search,
)

__all__ = ["DASHBOARD_DAYS", "MIN_QUERY", "MSG_CLOSED", "QUEUES", "REQUEST_KINDS",
           "SEARCH_LIMIT", "STALE_ORG", "AccountRow", "AccountView", "AgentInfo",
           "CustomerView", "Dashboard", "QueueItem", "SearchHit", "_union",
           "account_search_statements", "account_view", "agent_session", "clean_note", "close",
           "close_membership", "comment", "customer_name", "customer_search_statements",
           "customer_view", "dashboard", "find_number", "open_queue_counts", "queue_counts",
           "queue_items", "reveal_iban", "search", "take", "whoami"]

