"""Pilot flows of "Meine Produkte": redeem a key of each kind, each error beside the field,
the grouping input, "Zur Nutzung" with the QR code, an ended session."""

from __future__ import annotations

import pytest
from pilot import app_for, open_screen, press_button, settle, text
from rich.text import Text
from sqlalchemy import select
from test_products import KEYS, load_products, make_account
from textual.widgets import DataTable, Input

from db.models import LicenceKey
from screens.products import ProductsScreen, UsageDialog, qr_text
from services import products, sessions

SIZE = (100, 40)
TABLE = {"licence": "#products-licences", "download": "#products-downloads",
         "journal": "#products-journals"}


@pytest.fixture
def shop(sqlite_backend):
    load_products(sqlite_backend)
    return sqlite_backend


async def redeem(pilot, key: str) -> None:
    await pilot.click("#redeem-key")
    pilot.app.screen.query_one("#redeem-key", Input).value = ""
    await pilot.press(*key)
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("kind", ["licence", "download", "journal"])
async def test_redeem_each_kind(shop, kind) -> None:
    account_id, token = make_account(shop, "erika")
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        for table in TABLE.values():
            assert app.screen.query_one(table, DataTable).row_count == 0
        await redeem(pilot, KEYS[kind].lower().replace("-", ""))
        assert text(app, "#form-error") == ""
        notice = text(app, "#products-notice")
        assert "aktiviert" in notice
        table = app.screen.query_one(TABLE[kind], DataTable)
        # issue 19.13: the new row shows, the cursor stays in the key field for the next key
        assert table.row_count == 1 and app.focused is app.screen.query_one("#redeem-key")
        cells = table.get_row_at(0)
        assert all(isinstance(c, Text) for c in cells)
        assert cells[1].plain == "21.11.2026" and cells[2].plain == "31.07.2030"
        for other, selector in TABLE.items():
            if other != kind:
                assert app.screen.query_one(selector, DataTable).row_count == 0
        assert app.screen.query_one("#redeem-key", Input).value == ""
    with shop.transaction() as db:
        assert db.scalar(select(LicenceKey.redeemed_by_id).where(
            LicenceKey.redeemed_by_id.is_not(None))) == account_id


async def test_key_is_grouped_while_typing(shop) -> None:
    _, token = make_account(shop, "erika")
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        await pilot.click("#redeem-key")
        await pilot.press(*"math e7kacd")
        assert app.screen.query_one("#redeem-key", Input).value == "MATH-E7KA-CD"


@pytest.mark.parametrize(("key", "expected"), [
    ("ZZZZ-ZZZZ-ZZZZ-ZZZZ", "kann nicht eingelöst werden"),
    (KEYS["expired"], "am 31.07.2024 abgelaufen"),
    (KEYS["withdrawn"], "nicht mehr angeboten"),
    ("MATH-E7KA", "16 Buchstaben und Ziffern"),
])
async def test_errors_beside_the_field(shop, key, expected) -> None:
    _, token = make_account(shop, "erika")
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        await redeem(pilot, key)
        assert expected in text(app, "#redeem-key-error")
        assert app.focused is app.screen.query_one("#redeem-key")
        assert app.screen.query_one("#redeem-key", Input).value  # kept for correcting


async def test_taken_by_someone_else_is_neutral_and_mine_is_kind(shop) -> None:
    _, token = make_account(shop, "erika")
    _, other = make_account(shop, "otto")
    products.redeem_key(shop, other, KEYS["licence"], products.Caller(terminal_id="k2"))
    app = app_for(shop, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        await redeem(pilot, KEYS["licence"])  # redeemed by another account (issue 19.13)
        said = text(app, "#redeem-key-error")
        assert "already been redeemed by another" in said and "check your entry" not in said
        await redeem(pilot, KEYS["journal"])
        await redeem(pilot, KEYS["journal"])
        assert "already redeemed" in text(app, "#redeem-key-error")
        assert '"Journals"' in text(app, "#redeem-key-error")


async def test_wait_is_explained_in_minutes(shop) -> None:
    _, token = make_account(shop, "erika")
    for i in range(10):
        with pytest.raises(products.KeyRejected):
            products.redeem_key(shop, token, f"ZZZZ-ZZZZ-ZZZZ-{i:04d}",
                                products.Caller(terminal_id="k2"))
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        await redeem(pilot, KEYS["licence"])
        assert "60 Minuten" in text(app, "#redeem-key-error")


async def test_zur_nutzung_shows_address_instructions_and_qr(shop) -> None:
    _, token = make_account(shop, "erika")
    products.redeem_key(shop, token, KEYS["download"], products.Caller())
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        table = app.screen.query_one("#products-downloads", DataTable)
        # markup in a product name stays literal text
        assert table.get_row_at(0)[0].plain == "Arbeitsblätter [b]Deutsch[/b]"
        table.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UsageDialog)
        assert text(app, "#usage-url") == "https://example.org/wm-ab"
        assert "Anleitung" in text(app, "#usage-instructions")
        assert text(app, "#usage-name") == "Arbeitsblätter [b]Deutsch[/b]"
        qr = text(app, "#usage-qr")
        assert "█" in qr and qr.strip()
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ProductsScreen)
        await pilot.press("f6")  # the same through the key of "Zur Nutzung"
        await settle(pilot)
        assert isinstance(app.screen, UsageDialog)


async def test_use_without_products_explains(shop) -> None:
    _, token = make_account(shop, "erika")
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        await press_button(pilot, "#products-use")
        assert isinstance(app.screen, ProductsScreen)
        assert "Produkt" in text(app, "#form-error")


async def test_session_expired_returns_to_welcome(shop) -> None:
    _, token = make_account(shop, "erika")
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        sessions.end(shop, token)
        await redeem(pilot, KEYS["licence"])
        await settle(pilot)
        assert type(app.screen).__name__ == "WelcomeScreen"
        assert app.session_token is None


def test_qr_text_is_a_scannable_square() -> None:
    import segno

    modules = len(segno.make("https://example.org/x", error="m").matrix)
    lines = qr_text("https://example.org/x").splitlines()
    widths = {len(line) for line in lines}
    assert len(widths) == 1
    width = widths.pop()
    assert width == modules + 4 and len(lines) == (width + 1) // 2
    assert set("".join(lines)) <= set(" ▀▄█")


async def test_language_switch_retranslates_the_lists(shop) -> None:
    _, token = make_account(shop, "erika")
    products.redeem_key(shop, token, KEYS["licence"], products.Caller())
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        table = app.screen.query_one("#products-licences", DataTable)
        assert [c.label.plain for c in table.columns.values()][1] == "Aktiviert am"
        await pilot.press("f2")
        await settle(pilot)
        table = app.screen.query_one("#products-licences", DataTable)
        assert [c.label.plain for c in table.columns.values()][1] == "Activated on"
        assert table.get_row_at(0)[1].plain == "21/11/2026"
        assert text(app, "#products-licences-heading") == "My licences"


@pytest.mark.parametrize(("button", "screen"), [
    ("#nav-products", "ProductsScreen"),
    ("#nav-customer-numbers", "CustomerNumbersScreen"),
    ("#nav-profile", "ProfileScreen"),
])
async def test_home_buttons_open_their_flows(shop, button, screen) -> None:
    """The start page's buttons lead to the registered flows."""
    from screens.home import HomeScreen

    _account_id, token = make_account(shop, "erika")
    app = app_for(shop)
    async with app.run_test(size=SIZE) as pilot:
        app.set_session(token)
        await app.push_screen(HomeScreen("Erika"))
        await pilot.pause()
        app.screen.query_one(button).press()
        await settle(pilot)
        assert type(app.screen).__name__ == screen


@pytest.mark.parametrize("how", ["burst", "paste", "burst-lower-no-dashes"])
async def test_a_key_arriving_in_one_go_keeps_every_character(shop, how) -> None:
    """Issue 19.7: a scanner (or tmux send-keys) typing ``DRUC-K3AN-W4TE-X9YP`` in one go
    left ``DRUC-K3AN-W4TE``: the grouping rewrote the value from a stale Changed message.
    All keys are queued before any is handled, as a fast scanner does."""
    from textual import events

    _, token = make_account(shop, "erika")
    app = app_for(shop)
    key = KEYS["download"]
    sent = key.lower().replace("-", "") if how == "burst-lower-no-dashes" else key
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ProductsScreen(), token)
        field = app.screen.query_one("#redeem-key", Input)
        field.focus()
        await settle(pilot)
        for _round in range(5):
            field.value = ""
            await settle(pilot)
            if how == "paste":
                field.post_message(events.Paste(sent))
            else:
                for ch in sent:
                    field.post_message(events.Key(ch, ch))
            await settle(pilot)
            assert field.value == key
            assert field.cursor_position == len(key)
        # editing in the middle keeps the grouping and the cursor after the edited character
        field.cursor_position = 6  # after "DRUC-K"
        await pilot.press("backspace")
        assert field.value == products.group_key(key.replace("K3AN", "3AN"))
        assert field.cursor_position == 4
