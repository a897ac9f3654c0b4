"""Every screen and dialog at 80x24 and 120x40, in German and English (issue 19.9).

The other snapshot modules show the flows' states at one size; this one is the fit check: a
screen that cuts a word, hides a button or needs a wider terminal shows here. Update after
an intended change: ``pytest tests/test_snapshots_sizes.py --snapshot-update``, then read
the changed SVGs (cut words, missing buttons, footers) before committing them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from pilot import agent_login, app_for, login_token, open_customer, settle
from textual.pilot import Pilot

from services.agents import create_agent
from services.caller import Caller
from services.demo import load_demo
from services.errors import Conflict

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
AGENT_PASSWORD = "Schreibtisch-Kaffee-Leuchte-77"


def _screens() -> dict[str, tuple[str | None, Callable[[Any], Any]]]:
    """name -> (who is logged in: a demo user, "desk" or nobody; the screen to push)."""
    from screens.backoffice.desk import DeskScreen
    from screens.backoffice.login import AgentLoginScreen
    from screens.backoffice.objection import ObjectionDialog
    from screens.contract_customer import CustomerDataScreen
    from screens.contracts import ContractsScreen, LinkContractDialog
    from screens.customer_numbers import CustomerNumbersScreen, UnlinkDialog
    from screens.help import HelpScreen
    from screens.home import HomeScreen, ReauthDialog
    from screens.login import ForgotPasswordScreen, LoginScreen
    from screens.merge import MergeScreen
    from screens.org_admin import OrganisationScreen
    from screens.organisation import (
        OrgCodeScreen,
        OrgCompletionScreen,
        OrgRegisterScreen,
        OrgWaitingScreen,
    )
    from screens.products import ProductsScreen
    from screens.profile import ProfileScreen
    from screens.register import RegisterScreen, VerifyScreen
    from screens.settings import SettingsScreen

    company = "Praxis Dr. Köhler GmbH"
    return {
        "welcome": (None, lambda app: None),
        "help": (None, lambda app: HelpScreen("welcome")),
        "login": (None, lambda app: LoginScreen()),
        "forgot-password": (None, lambda app: ForgotPasswordScreen()),
        "register": (None, lambda app: RegisterScreen()),
        "verify": (None, lambda app: VerifyScreen("erika@example.org")),
        "org-register": (None, lambda app: OrgRegisterScreen()),
        "org-code": (None, lambda app: OrgCodeScreen("mia.berg@example.de")),
        "org-waiting": (None, lambda app: OrgWaitingScreen(company)),
        "org-completion": (None, lambda app: OrgCompletionScreen("mia.berg@example.de", "x",
                                                                  company)),
        "home": ("amueller", lambda app: HomeScreen("Anna Müller")),
        "reauth": ("amueller", lambda app: ReauthDialog()),
        "profile": ("amueller", lambda app: ProfileScreen()),
        "settings": ("amueller", lambda app: SettingsScreen()),
        "customer-numbers": ("amueller", lambda app: CustomerNumbersScreen()),
        "unlink": ("amueller", lambda app: UnlinkDialog("200001")),
        "contracts": ("amueller", lambda app: ContractsScreen()),
        "contract-link": ("amueller", lambda app: LinkContractDialog()),
        "contract-customer": ("amueller", lambda app: CustomerDataScreen("431190")),
        "products": ("lfuchs", lambda app: ProductsScreen()),
        "merge": ("amueller", lambda app: MergeScreen()),
        "organisation": ("kkoehler", lambda app: OrganisationScreen()),
        "desk-login": (None, lambda app: AgentLoginScreen()),
        "desk": ("desk", lambda app: DeskScreen("desk_agent", "agent")),
        "desk-objection": ("desk", lambda app: ObjectionDialog()),
    }


SCREENS = sorted(_screens())


def _opened(name: str) -> Callable[[Pilot], Any]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        who, factory = _screens()[name]
        if who == "desk":
            with contextlib.suppress(Conflict):  # made already for an earlier screen
                create_agent(app.backend, "desk_agent", "agent", AGENT_PASSWORD)
            app.set_session(agent_login(app.backend, "desk_agent", AGENT_PASSWORD,
                                        Caller()).token)  # both steps (#15)
        elif who is not None:
            app.set_session(login_token(app.backend, who))
        screen = factory(app)
        if screen is not None:
            await app.push_screen(screen)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("name", SCREENS)
def test_screen_fits(snap_compare, sqlite_backend, name, size, language) -> None:
    load_demo(sqlite_backend)
    assert snap_compare(app_for(sqlite_backend, language=language), terminal_size=SIZES[size],
                        run_before=_opened(name))


@pytest.mark.parametrize("language", ["de", "en"])
async def test_no_column_header_is_cut(sqlite_backend, language) -> None:
    """Issue 19.9: "Sitzunge", "Verknüpf…": every table's columns are at least as wide as
    their translated headers, on every screen (the desk's customer view included)."""
    from textual.widgets import DataTable

    from screens.backoffice.customer import CustomerScreen

    load_demo(sqlite_backend)
    cut: list[str] = []
    for name in [*SCREENS, "desk-customer"]:
        app = app_for(sqlite_backend, language=language)
        async with app.run_test(size=SIZES["80x24"]) as pilot:
            await _opened("desk" if name == "desk-customer" else name)(pilot)
            if name == "desk-customer":
                await open_customer(pilot, "200001")
                assert isinstance(pilot.app.screen, CustomerScreen)
            for table in pilot.app.screen.query(DataTable):
                cut += [f"{name}: {c.label.plain}" for c in table.columns.values()
                        if c.width < c.label.cell_len]
    assert cut == []
