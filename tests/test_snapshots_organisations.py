"""SVG snapshots of every step of guide 003 in German and English: the registration for a
company (form, neutral mismatch, names and consents, the code, the waiting state), the
completion (welcome, terms, privacy, password) and "Meine Organisation" (approvals queue,
members, the decision and add-contact dialogs).

Update after an intended change:
``pytest tests/test_snapshots_organisations.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from pilot import app_for, fill, open_as, open_screen, press_button, switch_tab
from test_organisations import load_company
from textual.pilot import Pilot

from screens.org_admin import OrganisationScreen
from screens.organisation import (
    OrgCodeScreen,
    OrgCompletionScreen,
    OrgDetailsScreen,
    OrgRegisterScreen,
    OrgWaitingScreen,
)
from services import mail, organisations
from services.caller import Caller

SIZE = (110, 40)
COMPANY = {"email": "mia.berg@example.de", "customer_number": "300001", "postal_code": "80331"}


async def register(pilot: Pilot) -> None:
    await open_screen(pilot, OrgRegisterScreen())


async def mismatch(pilot: Pilot) -> None:
    await register(pilot)
    await fill(pilot, orgreg_email="mia.berg@example.de", orgreg_customer_number="300001",
               orgreg_postal_code="99999")
    await press_button(pilot, "#orgreg-next")


async def details(pilot: Pilot) -> None:
    await open_screen(pilot, OrgDetailsScreen(COMPANY, "Praxis Dr. Köhler GmbH"))
    await fill(pilot, orgreg_first_name="Mia", orgreg_last_name="[b]Berg[/b]")
    await press_button(pilot, "#orgreg-submit")  # privacy not accepted: the error shows


async def code(pilot: Pilot) -> None:
    await open_screen(pilot, OrgCodeScreen("mia.berg@example.de",
                                           notice=(organisations.MSG_REGISTERED,
                                                   {"email": "mia.berg@example.de"})))


async def waiting(pilot: Pilot) -> None:
    await open_screen(pilot, OrgWaitingScreen("Praxis Dr. Köhler GmbH"))


def completion(*buttons: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run(pilot: Pilot) -> None:
        await open_screen(pilot, OrgCompletionScreen("mia.berg@example.de", "x",
                                                     "Praxis Dr. Köhler GmbH"))
        for button in buttons:
            await press_button(pilot, button)

    return run


def _requests(backend) -> None:
    for i, (first, last) in enumerate((("Mia", "Berg"), ("Jonas", "[red]Evil[/red]"))):
        email = f"person{i}@example.de"
        organisations.submit_registration(backend, {**COMPANY, "email": email,
                                                    "first_name": first, "last_name": last,
                                                    "privacy": True}, Caller())
        with backend.transaction() as db:
            sent = [m for m in mail.outbox(db) if m.template == "org_confirm" and m.to == email]
            the_code = sent[-1].params["code"]
        organisations.redeem_code(backend, email, the_code, Caller())


async def queue(pilot: Pilot) -> None:
    await open_as(pilot, "kkoehler", OrganisationScreen())


async def members(pilot: Pilot) -> None:
    await queue(pilot)
    await switch_tab(pilot, "org-tabs", "org-tab-members")


async def decision(pilot: Pilot) -> None:
    await queue(pilot)
    await press_button(pilot, "#org-reject")


async def contact(pilot: Pilot) -> None:
    await members(pilot)
    await press_button(pilot, "#org-add")


STEPS = {
    "register": register,
    "mismatch": mismatch,
    "details": details,
    "code": code,
    "waiting": waiting,
    "done_welcome": completion(),
    "done_terms": completion("#orgdone-next"),
    "done_privacy": completion("#orgdone-next", "#orgdone-terms-accept"),
    "done_password": completion("#orgdone-next", "#orgdone-terms-accept",
                                "#orgdone-privacy-accept"),
    "queue": queue,
    "members": members,
    "decision": decision,
    "contact": contact,
}


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("step", list(STEPS))
def test_organisation_step(snap_compare, sqlite_backend, step, language) -> None:
    load_company(sqlite_backend)
    if step in ("queue", "members", "decision", "contact"):
        _requests(sqlite_backend)
    app = app_for(sqlite_backend, language=language)
    assert snap_compare(app, terminal_size=SIZE, run_before=STEPS[step])
