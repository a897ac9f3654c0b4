"""Sessions: digest-only storage, idle and absolute timeouts, logout, re-authentication."""

from __future__ import annotations

import datetime as dt

import pytest
from pilot import agent_login
from sqlalchemy import select

from db.models import Session
from services import accounts, agents, sessions
from services.backend import Caller
from services.errors import AuthFailed, Throttled
from services.sessions import ReauthRequired, SessionExpired
from tests.test_accounts import CALLER, PW, register_and_verify


def _login(backend):
    register_and_verify(backend)
    return accounts.login(backend, "maxmuster", PW, CALLER).token


def test_only_digest_stored(backend):
    token = _login(backend)
    assert len(token) >= 22  # >= 128 bits, URL-safe
    with backend.transaction() as db:
        row = db.scalars(select(Session)).one()
    assert token not in row.token_digest and row.token_digest == sessions.digest(backend, token)


def test_idle_timeout_kiosk(backend, clock):
    token = _login(backend)
    clock.advance(seconds=119)
    sessions.current(backend, token)  # touches last_seen
    clock.advance(seconds=119)
    info = sessions.current(backend, token)
    assert info.idle_expires_at == clock.now + dt.timedelta(seconds=120)
    clock.advance(seconds=121)
    with pytest.raises(SessionExpired):
        sessions.current(backend, token)
    with backend.transaction() as db:
        assert db.scalars(select(Session)).one().ended_reason == "idle"


def test_absolute_timeout(backend, clock):
    token = _login(backend)
    for _ in range(16):
        clock.advance(seconds=110)
        sessions.current(backend, token)  # 29 min 20 s after login: still fine
    clock.advance(seconds=50)  # 30 min 10 s after login, 50 s idle
    with pytest.raises(SessionExpired):
        sessions.current(backend, token)


def test_agent_timeouts(backend, clock):
    agents.create_agent(backend, "desk.anna", "agent", PW)
    token = agent_login(backend, "desk.anna", PW, Caller(terminal_id="desk")).token
    clock.advance(minutes=14)
    sessions.current(backend, token)
    clock.advance(minutes=16)
    with pytest.raises(SessionExpired):
        sessions.current(backend, token)


def test_logout_and_end_all(backend):
    token = _login(backend)
    sessions.end(backend, token, "logout")
    with pytest.raises(SessionExpired):
        sessions.current(backend, token)
    sessions.end(backend, token)  # twice is harmless
    other = accounts.login(backend, "maxmuster", PW, CALLER)
    third = accounts.login(backend, "maxmuster", PW, CALLER)
    assert sessions.end_all_for_account(backend, other.account_id) == 2
    with pytest.raises(SessionExpired):
        sessions.current(backend, third.token)
    with pytest.raises(SessionExpired):
        sessions.current(backend, "made-up")


def test_reauth_valid_five_minutes(backend, clock):
    token = _login(backend)
    sessions.require_recent_auth(backend, token)  # the login itself counts
    for _ in range(4):  # six minutes of use (the idle timeout is two minutes)
        clock.advance(seconds=90)
        sessions.current(backend, token)
    with pytest.raises(ReauthRequired) as info:
        sessions.require_recent_auth(backend, token)
    assert "password" in info.value.fields
    with pytest.raises(AuthFailed):
        sessions.reauthenticate(backend, token, "falsches Passwort 123")
    sessions.reauthenticate(backend, token, PW)
    clock.advance(seconds=100)
    sessions.require_recent_auth(backend, token)
    sessions.current(backend, token)
    clock.advance(seconds=100)
    sessions.current(backend, token)
    clock.advance(seconds=101)
    with pytest.raises(ReauthRequired):
        sessions.require_recent_auth(backend, token)


def test_reauth_failures_count_as_login_failures(backend):
    token = _login(backend)
    for _ in range(5):
        with pytest.raises(AuthFailed):
            sessions.reauthenticate(backend, token, "falsches Passwort 123")
    with pytest.raises(Throttled):
        sessions.reauthenticate(backend, token, PW)
