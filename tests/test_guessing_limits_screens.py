"""Pilot: the new messages of issue 20 where a customer sees them (German and English): a
username of the customer-number form beside its field, the registration limit of a terminal
in the form's error, and a customer number closed at this terminal beside the code."""

from __future__ import annotations

import pytest
from pilot import app_for, settle, text
from sqlalchemy import func, select
from test_account_screens import FORM, register

from db.models import Account, Throttle
from services import accounts

SIZE = (100, 40)


@pytest.mark.parametrize(("language", "expected"), [
    ("de", "nicht wie eine Kundennummer"), ("en", "must not look like a customer number")])
async def test_username_of_the_number_form_beside_its_field(sqlite_backend, language,
                                                            expected) -> None:
    app = app_for(sqlite_backend, language=language)
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot, dict(FORM, **{"register-username": "200003"}))
        assert expected in text(app, "#register-username-error")
    with sqlite_backend.transaction() as db:
        assert db.scalar(select(func.count(Account.id))) == 0


@pytest.mark.parametrize(("language", "expected"), [
    ("de", "zu viele Registrierungen"), ("en", "Too many registrations")])
async def test_registration_limit_in_the_form_error(sqlite_backend, language,
                                                    expected) -> None:
    terminal = sqlite_backend.settings.terminal_id
    with sqlite_backend.transaction() as db:
        db.add(Throttle(action="register", scope="terminal", key=terminal,
                        failures=accounts.REGISTER_TERMINAL.max_failures,
                        window_start=sqlite_backend.now(),
                        blocked_until=sqlite_backend.now() + accounts.REGISTER_TERMINAL.window))
    app = app_for(sqlite_backend, language=language)
    async with app.run_test(size=SIZE) as pilot:
        await register(pilot)
        assert expected in text(app, "#form-error")
        assert "60" in text(app, "#form-error")
        await settle(pilot)
    with sqlite_backend.transaction() as db:
        assert db.scalar(select(func.count(Account.id))) == 0
