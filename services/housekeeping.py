"""Periodic clean-up that every terminal (and the mail worker) runs now and then.

Each step is its own transaction and is safe to run on many terminals at once: it only
deletes or updates what is due, so a second run finds nothing left to do.
"""

from __future__ import annotations

import logging

from services import accounts, mail, organisations, throttle
from services.backend import Backend

log = logging.getLogger("kundenkiosk.housekeeping")


def run(backend: Backend, *, deliver_mail: bool | None = None) -> dict[str, int]:
    """Purge stale registrations and guessing counters, remind and expire organisation
    requests; deliver mail when SMTP is set.

    Returns how many rows each step touched (for logs and tests).
    """
    done: dict[str, int] = {}
    done["unverified_accounts"] = accounts.purge_unverified(backend)
    requests = organisations.housekeeping(backend)
    done["organisation_reminders"] = requests.reminded
    done["organisation_expired"] = requests.expired
    with backend.transaction() as db:
        done["throttle_rows"] = throttle.purge_stale(db, backend.now())
    if deliver_mail if deliver_mail is not None else bool(backend.settings.smtp_url):
        sent, _failed = mail.deliver_pending(backend)
        done["mails_sent"] = sent
    return done
