"""Pilot flows of guide 003: from the welcome screen to the first login (with the super
admin's approval in the app), rejection with a reason, the direct add, the cross-company
refusal, the neutral mismatch message."""

from __future__ import annotations

from pilot import app_for, fill, open_as, open_screen, press_button, settle, text
from sqlalchemy import select
from test_organisations import load_company
from textual.widgets import Checkbox, DataTable
from welcome_helpers import make_customer

from db.models import Customer, Membership
from screens.login import LoginScreen
from screens.org_admin import ContactDialog, DecisionDialog, OrganisationScreen, RemoveDialog
from screens.organisation import (
    OrgCodeScreen,
    OrgCompletionScreen,
    OrgDetailsScreen,
    OrgRegisterScreen,
    OrgWaitingScreen,
)
from services import accounts, mail, organisations
from services.caller import Caller

SIZE = (110, 40)
PASSWORD = "Zitronenfalter-Wiese-Himmel-77"
EMAIL = "mia.berg@example.de"


def code_from(backend, template: str, to: str) -> str:
    with backend.transaction() as db:
        return [m for m in mail.outbox(db) if m.template == template and m.to == to][-1].params[
            "code"]


def bodies(backend, template: str) -> list[str]:
    with backend.transaction() as db:
        return [m.body for m in mail.outbox(db) if m.template == template]


async def register_from_welcome(pilot, email: str = EMAIL) -> None:
    app = pilot.app
    await settle(pilot)
    await press_button(pilot, "#welcome-org-register")
    assert isinstance(app.screen, OrgRegisterScreen)
    await fill(pilot, orgreg_email=email, orgreg_customer_number=" 300001 ",
               orgreg_postal_code="80331")
    await press_button(pilot, "#orgreg-next")
    assert isinstance(app.screen, OrgDetailsScreen)
    assert "Praxis Dr. Köhler GmbH" in text(app, "#orgreg-company")
    await fill(pilot, orgreg_first_name="Mia", orgreg_last_name="Berg")
    await press_button(pilot, "#orgreg-submit")  # privacy not accepted yet
    assert isinstance(app.screen, OrgDetailsScreen)
    assert "Datenschutzerklärung" in text(app, "#orgreg-privacy-error")
    app.screen.query_one("#orgreg-privacy", Checkbox).value = True
    await press_button(pilot, "#orgreg-submit")
    assert isinstance(app.screen, OrgCodeScreen)
    assert email in text(app, "#orgcode-notice")


async def test_welcome_to_first_login_with_approval_in_the_app(sqlite_backend) -> None:
    load_company(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await register_from_welcome(pilot)
        await fill(pilot, orgcode_code="FALSCH1234")
        await press_button(pilot, "#orgcode-submit")
        assert "nicht richtig" in text(app, "#orgcode-code-error")
        await fill(pilot, orgcode_code=code_from(sqlite_backend, "org_confirm", EMAIL))
        await press_button(pilot, "#orgcode-submit")
        assert isinstance(app.screen, OrgWaitingScreen)
        assert "Super Admin" in text(app, "#orgwait-message")
        await press_button(pilot, "#orgwait-done")
        assert app.screen.query("#welcome-org-register")

    # the super admin approves in the app
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "kkoehler", OrganisationScreen())
        assert "Offene Anfragen: 1" in text(app, "#org-requests-count")
        table = app.screen.query_one("#org-requests", DataTable)
        assert str(table.get_row_at(0)[0]) == "Mia Berg"
        assert str(table.get_row_at(0)[2]) == "300001"
        assert app.focused is table  # Enter opens the decision at once
        await press_button(pilot, "#org-approve")
        assert isinstance(app.screen, DecisionDialog)
        await press_button(pilot, "#org-decision-submit")
        assert isinstance(app.screen, OrganisationScreen)
        assert "bestätigt" in text(app, "#org-notice")
        assert "Es gibt keine offenen Anfragen" in text(app, "#org-requests-count")

    # the completion code at the kiosk: welcome, terms, privacy, password, login
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_button(pilot, "#welcome-org-register")
        await press_button(pilot, "#orgreg-have-code")
        assert isinstance(app.screen, OrgCodeScreen)
        await fill(pilot, orgcode_email=EMAIL,
                   orgcode_code=code_from(sqlite_backend, "org_complete", EMAIL))
        await press_button(pilot, "#orgcode-submit")
        assert isinstance(app.screen, OrgCompletionScreen)
        await press_button(pilot, "#orgdone-next")
        await press_button(pilot, "#orgdone-terms-accept")
        await press_button(pilot, "#orgdone-privacy-accept")
        await fill(pilot, orgdone_password="kurz", orgdone_password_confirm="kurz")
        await press_button(pilot, "#orgdone-submit")
        assert text(app, "#orgdone-password-error")
        await fill(pilot, orgdone_password=PASSWORD, orgdone_password_confirm=PASSWORD)
        await press_button(pilot, "#orgdone-submit")
        assert isinstance(app.screen, LoginScreen)
        await fill(pilot, login_identifier=EMAIL, login_password=PASSWORD)
        await press_button(pilot, "#login-submit")
        assert app.session_token is not None
    assert accounts.login(sqlite_backend, EMAIL, PASSWORD, Caller()).display_name == "Mia Berg"


async def test_mismatch_is_neutral_in_form_error(sqlite_backend) -> None:
    load_company(sqlite_backend)
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, OrgRegisterScreen())
        await press_button(pilot, "#orgreg-next")
        assert "must not be empty" in text(app, "#orgreg-email-error")
        await fill(pilot, orgreg_email=EMAIL, orgreg_customer_number="300001",
                   orgreg_postal_code="80333")
        await press_button(pilot, "#orgreg-next")
        assert isinstance(app.screen, OrgRegisterScreen)
        assert "could not find a company account" in text(app, "#form-error")
        first = app.focused
        assert first is not None and first.id and first.id.startswith("orgreg-")
        # typed at the kiosk: Enter in the postal code field; the cursor lands in the same
        # place every time, so the customer can correct without looking for it
        app.screen.query_one("#orgreg-postal-code").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.focused is first


async def test_rejection_with_reason_from_the_queue(sqlite_backend) -> None:
    load_company(sqlite_backend)
    organisations.submit_registration(sqlite_backend, {
        "email": EMAIL, "customer_number": "300001", "postal_code": "80331",
        "first_name": "Mia", "last_name": "Berg", "privacy": True}, Caller())
    organisations.redeem_code(sqlite_backend, EMAIL,
                              code_from(sqlite_backend, "org_confirm", EMAIL), Caller())
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "kkoehler", OrganisationScreen())
        await press_button(pilot, "#org-reject")
        await fill(pilot, org_reason="[b]Unbekannt[/b] bei uns")
        await press_button(pilot, "#org-decision-submit")
        assert "abgelehnt" in text(app, "#org-notice")
    assert any("[b]Unbekannt[/b] bei uns" in b for b in bodies(sqlite_backend, "org_rejected"))


async def test_direct_add_and_remove(sqlite_backend) -> None:
    load_company(sqlite_backend)
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "kkoehler", OrganisationScreen())
        await press_button(pilot, "#org-add")
        assert isinstance(app.screen, ContactDialog)
        await fill(pilot, org_contact_first_name="Lena", org_contact_last_name="Neu",
                   org_contact_email="nicht-gueltig")
        await press_button(pilot, "#org-contact-submit")
        assert text(app, "#org-contact-email-error")
        await fill(pilot, org_contact_email="lena@example.de")
        await press_button(pilot, "#org-contact-submit")
        assert isinstance(app.screen, OrganisationScreen)
        assert "lena@example.de" in text(app, "#org-notice")
        members = app.screen.query_one("#org-members", DataTable)
        assert [str(members.get_row_at(i)[0]) for i in range(members.row_count)] == [
            "Katrin Köhler (Sie)", "Lena Neu"]
        assert str(members.get_row_at(1)[3]) == "Eingeladen"
        # the last super admin cannot be removed
        members.move_cursor(row=0)
        await press_button(pilot, "#org-remove")
        await press_button(pilot, "#org-remove-submit")
        assert isinstance(app.screen, RemoveDialog)
        assert "letzte Super Admin" in text(app, "#form-error")
        await press_button(pilot, "#org-remove-cancel")
        members.move_cursor(row=1)
        await press_button(pilot, "#org-remove")
        await press_button(pilot, "#org-remove-submit")
        assert "entfernt" in text(app, "#org-notice")
        assert members.row_count == 1
    assert bodies(sqlite_backend, "org_complete")


async def test_admin_sees_only_own_company_and_members_see_nothing(sqlite_backend) -> None:
    load_company(sqlite_backend)
    other = make_customer(sqlite_backend, "300009", last_name="Andere", postal_code="10115",
                          ctype="company", company="Andere GmbH")
    with sqlite_backend.transaction() as db:
        db.add(Membership(customer_id=other, email_key="x@example.de",
                          state="pending_approval"))
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "kkoehler", OrganisationScreen())
        assert "300001" in text(app, "#org-heading")
        assert not app.screen.query_one("#org-company").display
        assert app.screen.query_one("#org-requests", DataTable).row_count == 0
    app = app_for(sqlite_backend)
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "eneu", OrganisationScreen())
        assert "kein Admin" in text(app, "#org-heading")
        assert not app.screen.query_one("#org-tabs").display
    with sqlite_backend.transaction() as db:
        assert db.scalar(select(Customer.company).where(Customer.id == other)) == "Andere GmbH"


async def test_queue_pages_forward_and_back(sqlite_backend, clock) -> None:
    import datetime as dt

    load_company(sqlite_backend)
    with sqlite_backend.transaction() as db:
        cid = db.scalar(select(Customer.id).where(Customer.number == "300001"))
        for i in range(45):
            db.add(Membership(customer_id=cid, email_key=f"p{i:02}@example.de",
                              state="pending_approval",
                              created_at=clock() + dt.timedelta(seconds=i)))
    app = app_for(sqlite_backend, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await open_as(pilot, "kkoehler", OrganisationScreen())
        table = app.screen.query_one("#org-requests", DataTable)

        def first_email() -> str:
            return str(table.get_row_at(0)[1])

        assert "Open requests: 45, shown: 1 to 20" in text(app, "#org-requests-count")
        assert first_email() == "p00@example.de"
        assert app.screen.query_one("#org-prev-page").disabled
        await press_button(pilot, "#org-next-page")
        await press_button(pilot, "#org-next-page")
        assert "shown: 41 to 45" in text(app, "#org-requests-count")
        assert first_email() == "p40@example.de" and table.row_count == 5
        assert app.screen.query_one("#org-next-page").disabled
        await press_button(pilot, "#org-prev-page")
        assert first_email() == "p20@example.de"
