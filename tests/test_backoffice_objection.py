"""Objections to a contract link at the service desk (#5, #9): the unlink service on SQLite and
PostgreSQL, the desk flow "Widerspruch erfassen" → queue → customer → "Vertragsverknüpfung
aufheben" with Pilot, and snapshots of the objection dialog in German and English."""

from __future__ import annotations

import pytest
from pilot import app_for, login_token, new_agent, open_desk, settle, text, type_text
from sqlalchemy import select
from textual.pilot import Pilot

from db.models import (
    Account,
    AuditEvent,
    Contract,
    ContractLink,
    Customer,
    OutboxMail,
    SupportRequest,
)
from screens.backoffice.customer import CustomerScreen
from screens.backoffice.desk import DeskScreen
from screens.backoffice.dialogs import NoteDialog
from screens.backoffice.objection import ObjectionDialog, ObjectionDoneDialog
from services import contracts
from services.caller import Caller
from services.demo import load_demo
from services.errors import Conflict, NotAllowed, NotFound

SIZE = (110, 40)
GOOD = {"number": "431177", "birth_date": "05.10.2000", "last_name": "Musterjobber",
        "postal_code": "34117"}


def _linked(backend) -> str:
    """The demo plus 431177 linked to amueller; returns the objection code mailed."""
    load_demo(backend)
    contracts.link_contract(backend, login_token(backend, "amueller"), GOOD, Caller())
    with backend.transaction() as db:
        return db.scalars(select(OutboxMail.params).where(
            OutboxMail.template == "contract_linked")).one()["objection_code"]


def _customer_id(backend, number: str = "100001") -> int:
    with backend.transaction() as db:
        return db.scalar(select(Customer.id).where(Customer.number == number))


# --------------------------------------------------------------------------- unlink service


def test_unlink_after_objection_resolves_mails_and_audits(backend) -> None:
    code = _linked(backend)
    token = new_agent(backend).token
    objection = contracts.object_to_link(backend, token, code, Caller(terminal_id="desk-1"))
    result = contracts.unlink_contract(backend, token, objection.customer_id, "431177",
                                       Caller(terminal_id="desk-1"), "  Auf Wunsch des Kunden ")
    assert result.params == {"number": "431177", "user": "amueller"}
    assert result.closed_requests == [objection.reference]
    assert contracts.contract_lists(backend, login_token(backend, "amueller")).active == []
    with backend.transaction() as db:
        assert db.scalars(select(ContractLink)).all() == []
        request = db.get(SupportRequest, objection.reference)
        assert (request.status, request.resolution) == ("resolved", "Auf Wunsch des Kunden")
        mail = db.scalars(select(OutboxMail).where(
            OutboxMail.template == "desk_contract_unlinked")).one()
        holder = db.scalars(select(Account).where(Account.username == "amueller")).one()
        assert (mail.to, mail.language) == (holder.email, holder.language)
        assert "431177" in mail.body and "Auf Wunsch des Kunden" in mail.body
        event = db.scalars(select(AuditEvent).where(
            AuditEvent.event == "desk_contract_unlinked")).one()
        assert event.customer_id == objection.customer_id and event.actor_id is not None
        assert code not in str(event.details)
    # the contract can be linked again (by whoever proves the data)
    item = contracts.link_contract(backend, login_token(backend, "amueller"), GOOD, Caller())
    assert item.number == "431177"


def test_unlink_refuses_customers_other_customers_and_unlinked(backend) -> None:
    _linked(backend)
    customer_id = _customer_id(backend)
    for token in (login_token(backend, "amueller"), login_token(backend, "lfuchs")):
        with pytest.raises(NotAllowed):
            contracts.unlink_contract(backend, token, customer_id, "431177", Caller())
    token = new_agent(backend).token
    with pytest.raises(NotFound):  # the contract is not this customer's
        contracts.unlink_contract(backend, token, _customer_id(backend, "100005"), "431177",
                                  Caller())
    with pytest.raises(NotFound):
        contracts.unlink_contract(backend, token, customer_id, "NOPE", Caller())
    with backend.transaction() as db:
        assert len(db.scalars(select(ContractLink)).all()) == 1
        other = db.scalars(select(Contract).where(Contract.customer_id == customer_id,
                                                  Contract.number != "431177")).first()
    contracts.unlink_contract(backend, token, customer_id, "431177", Caller())
    with pytest.raises(Conflict):  # twice: nothing linked any more
        contracts.unlink_contract(backend, token, customer_id, "431177", Caller())
    if other is not None:
        with pytest.raises(Conflict):
            contracts.unlink_contract(backend, token, customer_id, other.number, Caller())


# --------------------------------------------------------------------------- Pilot


async def test_desk_objection_queue_customer_unlink(sqlite_backend) -> None:
    code = _linked(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot, new_agent(sqlite_backend))
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, ObjectionDialog)
        await pilot.press("enter")  # empty: the message beside the field
        await settle(pilot)
        assert "leer" in text(app, "#objection-code-error")
        app.screen.query_one("#objection-code").value = "FALSCH-123"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ObjectionDialog)
        assert "nicht bekannt" in text(app, "#objection-code-error")
        app.screen.query_one("#objection-code").value = code.lower()
        await pilot.click("#objection-submit")
        await settle(pilot)
        assert isinstance(app.screen, ObjectionDoneDialog)
        shown = text(app, "#objection-result-title") + text(app, "#objection-result")
        assert "431177" in shown and "100001" in shown and "amueller" in shown
        assert code not in shown
        desk = app.screen_stack[-2]
        assert isinstance(desk, DeskScreen)
        # the request is in the contract-link queue, highlighted
        assert desk._queue == "contract_link_blocked"
        item = desk.current_item()
        assert item is not None and item.customer_number == "100001"
        assert ("reason", "objection") in item.details
        await pilot.press("enter")  # "Kunden öffnen"
        await settle(pilot)
        assert isinstance(app.screen, CustomerScreen)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, NoteDialog)
        assert "431177" in text(app, ".form-title")
        app.screen.query_one("#note-text").value = "Widerspruch des Kunden"
        await pilot.click("#note-submit")
        await settle(pilot)
        assert isinstance(app.screen, CustomerScreen)
        with sqlite_backend.transaction() as db:
            assert db.scalars(select(ContractLink)).all() == []
            request = db.scalars(select(SupportRequest).where(
                SupportRequest.kind == "contract_link_blocked")).one()
            assert request.status == "resolved"
            assert db.scalars(select(OutboxMail).where(
                OutboxMail.template == "desk_contract_unlinked")).one()
        view = app.screen.view
        assert view is not None and all(c.linked_to is None for c in view.contracts)
        await pilot.press("a")  # nothing linked any more: a hint, no dialog
        await settle(pilot)
        assert isinstance(app.screen, CustomerScreen)


async def test_desk_objection_from_the_palette_and_throttled(sqlite_backend) -> None:
    _linked(sqlite_backend)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot, new_agent(sqlite_backend))
        await pilot.press("ctrl+p")
        await settle(pilot)
        await type_text(pilot, "objection")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ObjectionDialog)
        for _ in range(5):
            app.screen.query_one("#objection-code").value = "WRONG-CODE"
            await pilot.press("enter")
            await settle(pilot)
        assert "not known" in text(app, "#objection-code-error")
        await pilot.press("enter")
        await settle(pilot)
        assert "wait 300 seconds" in text(app, "#objection-code-error")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DeskScreen)


# --------------------------------------------------------------------------- snapshots


def _snap_app(backend, language: str):
    _linked(backend)
    app = app_for(backend, language=language)
    app._desk = new_agent(backend)  # type: ignore[attr-defined]
    return app


async def _dialog(pilot: Pilot) -> None:
    await open_desk(pilot, pilot.app._desk)  # type: ignore[attr-defined]
    await pilot.press("f9")
    await settle(pilot)
    pilot.app.screen.query_one("#objection-code").value = "FALSCH-123"
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("language", ["de", "en"])
def test_objection_dialog_snapshot(snap_compare, sqlite_backend, language) -> None:
    assert snap_compare(_snap_app(sqlite_backend, language), terminal_size=SIZE,
                        run_before=_dialog)
