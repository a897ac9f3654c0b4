"""Housekeeping: stale registrations and guessing counters go, frozen keys stay; mail is
delivered when asked."""

from __future__ import annotations

from sqlalchemy import func, select
from test_accounts import CALLER, form

from db.models import Account, Throttle
from services import accounts, housekeeping, throttle
from services.throttle import LOGIN_ACCOUNT, Policy


def test_run_purges_what_is_due_and_nothing_else(backend, clock):
    accounts.register(backend, form(), CALLER)
    with backend.transaction() as db:
        throttle.fail(db, "login", "account", "a999", LOGIN_ACCOUNT, clock())
        throttle.fail(db, "link_code", "number", "100001",
                      Policy(max_failures=1, freeze_after=1), clock())
    assert housekeeping.run(backend, deliver_mail=False) == {
        "unverified_accounts": 0, "throttle_rows": 0, "organisation_reminders": 0,
        "organisation_expired": 0}
    clock.advance(days=31)
    done = housekeeping.run(backend, deliver_mail=False)
    assert (done["unverified_accounts"], done["throttle_rows"]) == (1, 1)
    with backend.transaction() as db:
        assert db.scalar(select(func.count()).select_from(Account)) == 0
        assert list(db.scalars(select(Throttle.key))) == ["100001"]  # frozen: desk only
    assert housekeeping.run(backend, deliver_mail=False)["throttle_rows"] == 0
