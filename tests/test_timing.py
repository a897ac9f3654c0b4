"""Answer times that do not tell accounts apart (issue 20, item 10), on SQLite and PostgreSQL.

For each request whose message is the same for a known and an unknown identifier — the
password-reset request, the organisation registration with an e-mail that has an account, and
the organisation code step — ``TRIALS`` calls of each kind are timed, interleaved in a random
order (so that drift of a busy machine hits both alike), and the two samples are compared by
the area under the ROC curve (AUC, the Mann-Whitney statistic: the chance that a random
"known" call took longer than a random "unknown" one). Without the floor the campaign measured
0.97, 0.03 and 0.96 (this file without the floor, on a busy 2-core machine: 0.84 to 0.93 and
0.16 — it fails); with it, the AUC must stay within ``0.5 ± BOUND``. With 30 timed trials of
each kind, the AUC of two equal distributions has a standard deviation of about 0.075, so the
bound is 4 of them: robust on a busy machine, and still far from the leaks.
The floor here is 150 ms (the default is 250 ms): on this shared machine the organisation
registration of a new address took 50-130 ms on PostgreSQL, and the floor must lie above the
slowest path. The file takes about 10 s per test.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from welcome_helpers import make_customer

from db.models import Account, Membership
from services import accounts, organisations
from services.backend import Backend
from services.caller import Caller
from services.errors import DomainError

TRIALS = 31  # the first of each kind is a warm-up
BOUND = 0.3
FLOOR_MS = 150
COMPANY = {"customer_number": "K-900100", "postal_code": "34117"}
PERSON = {"first_name": "Tara", "last_name": "Takt", "privacy": True}


@pytest.fixture
def timed(backend: Backend) -> Backend:
    backend.settings.response_floor_ms = FLOOR_MS
    backend.digester  # noqa: B018 - the key file is read before the first timed call
    return backend


def auc(known: list[float], unknown: list[float]) -> float:
    """P(known > unknown) + P(equal)/2 over all pairs."""
    wins = sum((k > u) + 0.5 * (k == u) for k in known for u in unknown)
    return wins / (len(known) * len(unknown))


def campaign(known: list[Callable[[], object]], unknown: list[Callable[[], object]]
             ) -> float:
    """Time every call (interleaved at random) but the first of each kind, which warms the
    statement caches up; the AUC of known vs unknown."""
    for call in (known[0], unknown[0]):
        try:
            call()
        except DomainError:
            pass
    order = [(True, call) for call in known[1:]] + [(False, call) for call in unknown[1:]]
    random.Random(20).shuffle(order)
    times: dict[bool, list[float]] = {True: [], False: []}
    for is_known, call in order:
        start = time.perf_counter()
        try:
            call()
        except DomainError:
            pass  # the same neutral error for both kinds (the code step)
        times[is_known].append(time.perf_counter() - start)
    assert min(times[True] + times[False]) >= FLOOR_MS / 1000  # the floor holds
    return auc(times[True], times[False])


def accounts_named(backend: Backend, prefix: str, count: int) -> list[str]:
    """``count`` active accounts with e-mails ``<prefix>N@example.org``."""
    emails = [f"{prefix}{n}@example.org" for n in range(count)]
    with backend.transaction() as db:
        db.add_all([Account(email=e, email_key=e, status="active", first_name="T",
                            last_name=f"N{n}", verified_at=backend.now())
                    for n, e in enumerate(emails)])
    return emails


def test_password_reset_request_takes_as_long_for_unknown_accounts(timed) -> None:
    known = accounts_named(timed, "reset", TRIALS)
    caller = Caller(terminal_id="kiosk-t")
    value = campaign(
        [lambda e=e: accounts.request_password_reset(timed, e, caller) for e in known],
        [lambda n=n: accounts.request_password_reset(timed, f"nobody{n}@example.org", caller)
         for n in range(TRIALS)])
    assert abs(value - 0.5) < BOUND, f"AUC {value:.2f}: the answer time tells accounts apart"


def _company(backend: Backend) -> None:
    make_customer(backend, COMPANY["customer_number"], last_name="Takt GmbH",
                  postal_code=COMPANY["postal_code"], ctype="company", company="Takt GmbH")


def test_organisation_registration_with_an_existing_account_takes_as_long(timed) -> None:
    _company(timed)
    known = accounts_named(timed, "orgacc", TRIALS)
    caller = Caller(terminal_id="kiosk-t")

    def submit(email: str) -> object:
        return organisations.submit_registration(
            timed, {**COMPANY, **PERSON, "email": email}, caller)

    value = campaign([lambda e=e: submit(e) for e in known],
                     [lambda n=n: submit(f"neu{n}@example.org") for n in range(TRIALS)])
    assert abs(value - 0.5) < BOUND, f"AUC {value:.2f}: the answer time tells accounts apart"


def test_organisation_code_step_takes_as_long_for_unknown_addresses(timed) -> None:
    _company(timed)
    caller = Caller(terminal_id="kiosk-t")
    pending = [f"wartet{n}@example.org" for n in range(TRIALS)]
    floor, timed.settings.response_floor_ms = timed.settings.response_floor_ms, 0
    for email in pending:  # requests waiting for their code (set up without the floor)
        organisations.submit_registration(timed, {**COMPANY, **PERSON, "email": email},
                                          caller)
    timed.settings.response_floor_ms = floor
    with timed.transaction() as db:
        assert len(db.scalars(select(Membership).where(
            Membership.state == "pending_email")).all()) == TRIALS
    value = campaign(
        [lambda e=e: organisations.redeem_code(timed, e, "FALSCH-0000", caller)
         for e in pending],
        [lambda n=n: organisations.redeem_code(timed, f"niemand{n}@example.org",
                                               "FALSCH-0000", caller)
         for n in range(TRIALS)])
    assert abs(value - 0.5) < BOUND, f"AUC {value:.2f}: the answer time tells accounts apart"
