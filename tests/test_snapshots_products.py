"""SVG snapshots of "Meine Produkte" in German and English: the redeem form (empty, with an
error) and the three lists filled, and the "Zur Nutzung" dialog.

Update after an intended change: ``pytest tests/test_snapshots_products.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from pilot import app_for, open_screen, settle
from test_products import KEYS, load_products, make_account
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from screens.products import ProductsScreen
from services import products


def _open(token: str, then=None):
    async def run_before(pilot: Pilot) -> None:
        await open_screen(pilot, ProductsScreen(), token)
        if then is not None:
            await then(pilot)
            await settle(pilot)

    return run_before


@pytest.fixture
def owner(sqlite_backend):
    load_products(sqlite_backend)
    _, token = make_account(sqlite_backend, "erika")
    return sqlite_backend, token


@pytest.mark.parametrize("language", ["de", "en"])
def test_redeem_form(snap_compare, owner, language) -> None:
    backend, token = owner
    assert snap_compare(app_for(backend, language=language), terminal_size=(100, 30),
                        run_before=_open(token))


@pytest.mark.parametrize("language", ["de", "en"])
def test_redeem_error(snap_compare, owner, language) -> None:
    backend, token = owner

    async def wrong(pilot: Pilot) -> None:
        pilot.app.screen.query_one("#redeem-key", Input).value = KEYS["expired"]
        pilot.app.screen.action_redeem()

    assert snap_compare(app_for(backend, language=language), terminal_size=(100, 30),
                        run_before=_open(token, wrong))


@pytest.mark.parametrize("language", ["de", "en"])
def test_three_lists(snap_compare, owner, language) -> None:
    backend, token = owner
    for kind in ("licence", "download", "journal"):
        products.redeem_key(backend, token, KEYS[kind], products.Caller())

    async def scroll(pilot: Pilot) -> None:
        pilot.app.screen.query_one("#products-journals", DataTable).focus()
        await pilot.pause()

    assert snap_compare(app_for(backend, language=language), terminal_size=(100, 50),
                        run_before=_open(token, scroll))


@pytest.mark.parametrize("language", ["de", "en"])
def test_usage_dialog(snap_compare, owner, language) -> None:
    backend, token = owner
    products.redeem_key(backend, token, KEYS["licence"], products.Caller())

    async def use(pilot: Pilot) -> None:
        pilot.app.screen.query_one("#products-licences", DataTable).focus()
        await pilot.press("enter")

    assert snap_compare(app_for(backend, language=language), terminal_size=(100, 40),
                        run_before=_open(token, use))
