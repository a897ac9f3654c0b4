"""Issue 20 item 7: text from records is shown as text on every screen that shows it — customer
side and desk. Hostile records (markup, a lone ``[/]``, brackets, a terminal escape) are loaded,
each screen is driven and its rendered lines are read: the brackets show literally, nothing is
blanked, nothing is bold or clickable because of a record."""

from __future__ import annotations

import datetime as dt

from pilot import app_for, login_token, new_agent, open_screen, press_button, settle, type_text
from sqlalchemy import select, update

from db.models import Account, Contract, Customer, Membership, Product
from screens.backoffice.desk import DeskScreen
from services import contracts
from services.caller import Caller
from services.demo import load_demo

SIZE = (160, 50)
MARKUP = "[b]Fett[/b] [@click=app.logout]Klick[/] GmbH"
BRACKETS = "Praxis [Zweigstelle Nord] GmbH"
CLOSE = "[/]"
ESCAPE = "\x1b[31mRot"
PW_DESK = "Schreibtisch-Lampe-Gruen-2026"


def hostile(backend) -> dict[str, int]:
    """The demo data with hostile text in every record a screen shows."""
    load_demo(backend)
    with backend.transaction() as db:
        db.execute(update(Customer).where(Customer.number == "300001").values(
            company=f"{CLOSE} {MARKUP}"))
        db.execute(update(Customer).where(Customer.number == "100005").values(
            first_name=BRACKETS, last_name=CLOSE, city=ESCAPE + " Linz", street=MARKUP))
        db.execute(update(Customer).where(Customer.number == "200002").values(
            street=BRACKETS, city=f"{CLOSE} Düsseldorf"))
        db.execute(update(Product).values(name=MARKUP))
        db.execute(update(Contract).where(Contract.number == "431177").values(product=BRACKETS))
        db.execute(update(Account).where(Account.username == "lfuchs").values(
            first_name=BRACKETS, last_name=CLOSE))
        db.execute(update(Account).where(Account.email == "jonas.wagner@example.de").values(
            first_name=MARKUP, last_name=CLOSE))
        # A second company for kkoehler, so the company choice is shown.
        second = Customer(number="300099", type="company", company=BRACKETS,
                          postal_code="80331", city="München", country="DE")
        db.add(second)
        db.flush()
        admin = db.scalar(select(Account).where(Account.username == "kkoehler"))
        db.add(Membership(customer_id=second.id, account_id=admin.id, email_key=admin.email_key,
                          role="super_admin", state="active"))
        return {"second": second.id,
                "lfuchs": db.scalar(select(Account.id).where(Account.username == "lfuchs"))}


def screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def assert_literal(app, *fragments: str) -> None:
    shown = screen_text(app)
    missing = [f for f in fragments if f not in shown]
    assert not missing, f"{missing} not on screen:\n{shown}"
    assert "\x1b" not in shown
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            meta = segment.style.meta if segment.style else {}
            assert "app.logout" not in str(meta.get("@click", "")), segment


async def _open(app, pilot, flow: str) -> None:
    app.open_flow(flow)
    await settle(pilot)
    await pilot.pause(0.2)
    await settle(pilot)


async def test_customer_screens_show_record_text_literally(sqlite_backend):
    hostile(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        token = login_token(sqlite_backend, "lfuchs")
        contracts.link_contract(sqlite_backend, token, {
            "number": "431177", "birth_date": dt.date(2000, 10, 5), "last_name": "Musterjobber",
            "postal_code": "34117"}, Caller())
        app.set_session(token)
        from screens.home import HomeScreen

        await open_screen(pilot, HomeScreen(f"{BRACKETS} {CLOSE}"))
        assert_literal(app, BRACKETS)

        await _open(app, pilot, "customer-numbers")
        assert_literal(app, "100005", BRACKETS[:20])
        await pilot.press("escape")

        await _open(app, pilot, "products")
        assert_literal(app, "[b]Fett[/b] [@click=app.logout]Klick[/]")
        await pilot.press("escape")

        await _open(app, pilot, "contracts")
        assert_literal(app, "431177", BRACKETS[:18])
        await pilot.press("escape")

        await _open(app, pilot, "settings")
        app.screen.query_one("TabbedContent").active = "settings-tab-profiles"
        await settle(pilot)
        assert_literal(app, "100005", BRACKETS[:18])
        await pilot.press("escape")

        await _open(app, pilot, "profile")
        assert_literal(app)


async def test_organisation_admin_shows_company_names_literally(sqlite_backend):
    """The company Select of "Meine Organisation": bold, a click action and a blank screen
    came from the imported name; now it is text like everywhere else."""
    hostile(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.set_session(login_token(sqlite_backend, "kkoehler"))
        await _open(app, pilot, "organisation")
        select = app.screen.query_one("#org-company")
        assert select.display
        select.value = db_customer(sqlite_backend, "300001")
        await settle(pilot)
        assert_literal(app, f"{CLOSE} [b]Fett[/b] [@click=app.logout]Klick[/] GmbH (300001)",
                       "[b]Fett[/b] [@")  # the pending request's name
        select.value = db_customer(sqlite_backend, "300099")
        await settle(pilot)
        assert_literal(app, f"{BRACKETS} (300099)")
        select.focus()
        select.expanded = True  # the list of companies
        await settle(pilot)
        assert_literal(app, f"{BRACKETS} (300099)", f"{CLOSE} [b]Fett[/b]")


async def test_merge_comparison_shows_record_text_literally(sqlite_backend):
    hostile(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        app.set_session(login_token(sqlite_backend, "amueller"))
        await _open(app, pilot, "merge")
        app.screen.query_one("#merge-other-number").value = "200002"
        app.screen.query_one("#merge-credential").value = "Leuchtturm-Sylt-Moewe-17"
        await press_button(pilot, "#merge-next")
        assert_literal(app, BRACKETS[:20], f"{CLOSE} Düsseldorf")


async def test_desk_shows_record_text_literally(sqlite_backend):
    ids = hostile(sqlite_backend)
    result = new_agent(sqlite_backend, "desk_agent", "supervisor", PW_DESK, Caller())
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        desk = DeskScreen(result.display_name, result.kind)
        await open_screen(pilot, desk, result.token)
        search = app.screen.query_one("#desk-search")
        search.focus()
        await type_text(pilot, "100005")
        await pilot.pause(0.5)
        await settle(pilot)
        assert_literal(app, "100005", BRACKETS[:18])
        desk.open_customer(db_customer(sqlite_backend, "100005"))
        await settle(pilot)
        assert_literal(app, BRACKETS, f"{CLOSE}", "[@click=app.logout]Klick[/]", "[31mRot Linz")
        await pilot.press("escape")
        await settle(pilot)
        desk.open_customer(db_customer(sqlite_backend, "300001"))
        await settle(pilot)
        assert_literal(app, f"{CLOSE} [b]Fett[/b] [@click=app.logout]Klick[/] GmbH")
        await pilot.press("escape")
        await settle(pilot)
        desk.open_account(ids["lfuchs"])
        await settle(pilot)
        assert_literal(app, "lfuchs", BRACKETS[:18])
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f6")  # the queues: the pending applicant's request
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        assert_literal(app)


def db_customer(backend, number: str) -> int:
    with backend.transaction() as db:
        return db.scalar(select(Customer.id).where(Customer.number == number))
