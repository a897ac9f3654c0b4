"""#15 second factor: services on SQLite and PostgreSQL with the test clock (``clock``)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from urllib.parse import parse_qs, urlparse

import pytest
from pilot import DEMO_PASSWORDS
from sqlalchemy import select
from sqlalchemy.engine import make_url

from db.models import AuditEvent, RecoveryCode, SecondFactor, Session, Throttle
from services import accounts, agents, second_factor, sessions, throttle
from services.caller import Caller
from services.demo import load_demo
from services.errors import AuthFailed, NotAllowed, NotFound, Throttled, ValidationFailed
from services.secretbox import DecryptionFailed, SecretBox, open_raw, seal_raw

PW = "Schreibtisch-Lampe-Abend-2026"
PW2 = "Aktenordner-Regal-Morgen-2026"
CALLER = Caller(terminal_id="desk-1")
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def code(secret: str, backend, seconds: float = 0) -> str:
    return second_factor.code_at(secret, backend.now() + dt.timedelta(seconds=seconds))


def enrolled_agent(backend, name: str = "desk.anna", role: str = "agent",
                   password: str = PW) -> tuple[str, list[str], str]:
    """(secret, recovery codes, token of the enrolment login)."""
    agents.create_agent(backend, name, role, password)
    pending = accounts.login_agent(backend, name, password, CALLER)
    assert pending.second_factor == "enrol"
    second_factor.begin_enrolment(backend, pending.token, secret=SECRET)
    done = second_factor.confirm_enrolment(backend, pending.token, code(SECRET, backend),
                                           CALLER)
    return SECRET, done.recovery_codes, pending.token


def test_aes_gcm_matches_the_published_test_vector():
    """GCM specification test case 16 (AES-256, 60 bytes, AAD): our libcrypto binding gives
    the published ciphertext and tag, and a changed tag or other AAD is refused."""
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308" * 2)
    nonce = bytes.fromhex("cafebabefacedbaddecaf888")
    plain = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    sealed = seal_raw(key, nonce, plain, aad)
    assert sealed.hex() == (
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b")
    assert open_raw(key, nonce, sealed, aad) == plain
    with pytest.raises(DecryptionFailed):
        open_raw(key, nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)
    box = SecretBox(key)
    token = box.seal(SECRET, "second_factor:1")
    assert box.open(token, "second_factor:1") == SECRET
    with pytest.raises(DecryptionFailed):
        box.open(token, "second_factor:2")  # copied to another account's row


def test_agent_enrols_at_first_login_then_types_the_code(backend, clock):
    agents.create_agent(backend, "desk.anna", "supervisor", PW)
    pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    assert (pending.second_factor, pending.account_id, pending.display_name) == ("enrol", 0, "")
    with pytest.raises(sessions.SessionExpired):  # a pending login serves nothing
        sessions.current(backend, pending.token)
    enrolment = second_factor.begin_enrolment(backend, pending.token)
    uri = urlparse(enrolment.uri)
    assert uri.scheme == "otpauth" and uri.path == "/Kundenkiosk:desk.anna"
    assert parse_qs(uri.query) == {"secret": [enrolment.secret], "issuer": ["Kundenkiosk"]}
    assert enrolment.grouped.replace(" ", "") == enrolment.secret
    with pytest.raises(ValidationFailed):  # a wrong code does not end the enrolment
        second_factor.confirm_enrolment(backend, pending.token, "000000", CALLER)
    with pytest.raises(sessions.SessionExpired):
        sessions.current(backend, pending.token)
    done = second_factor.confirm_enrolment(backend, pending.token,
                                           code(enrolment.secret, backend), CALLER)
    assert len(done.recovery_codes) == len(set(done.recovery_codes)) == 10
    assert sessions.current(backend, pending.token).kind == "supervisor"
    clock.advance(seconds=30)
    again = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    assert again.second_factor == "code"
    result = second_factor.complete_login(backend, again.token, code(enrolment.secret, backend),
                                          CALLER)
    assert result.kind == "supervisor" and result.display_name == "desk.anna"
    assert sessions.current(backend, again.token).account_id == result.account_id


def test_only_the_steps_around_now_count(backend, clock):
    secret, _codes, _ = enrolled_agent(backend)
    for offset, accepted in ((-60, False), (90, False), (60, False), (-30, True),
                             (30, True)):
        clock.advance(seconds=60)  # a fresh step each time (no replay)
        pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
        attempt = code(secret, backend, offset)
        if accepted:
            assert second_factor.complete_login(backend, pending.token, attempt, CALLER).token
        else:
            with pytest.raises(AuthFailed):
                second_factor.complete_login(backend, pending.token, attempt, CALLER)


def test_a_used_step_is_refused_again(backend, clock):
    secret, _codes, _ = enrolled_agent(backend)  # the enrolment used this step
    first = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    with pytest.raises(AuthFailed) as replay:
        second_factor.complete_login(backend, first.token, code(secret, backend), CALLER)
    assert replay.value.message == second_factor.MSG_CODE_FAILED
    clock.advance(seconds=30)
    now_code = code(secret, backend)
    assert second_factor.complete_login(backend, first.token, now_code, CALLER).token
    second = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    with pytest.raises(AuthFailed):  # the same code from another terminal
        second_factor.complete_login(backend, second.token, now_code,
                                     Caller(terminal_id="desk-2"))
    with pytest.raises(AuthFailed):  # an older step after a newer one
        second_factor.complete_login(backend, second.token, code(secret, backend, -30),
                                     CALLER)


def test_wrong_password_leads_to_a_code_step_that_nothing_opens(backend):
    secret, _codes, _ = enrolled_agent(backend)
    for identifier, password in (("desk.anna", "not the password at all"),
                                 ("nobody.here", PW)):
        pending = accounts.login_agent(backend, identifier, password, CALLER)
        assert (pending.second_factor, pending.account_id, pending.kind) == ("code", 0, "")
        with pytest.raises(AuthFailed) as failed:
            second_factor.complete_login(backend, pending.token, code(secret, backend, 30),
                                         CALLER)
        assert failed.value.message == second_factor.MSG_CODE_FAILED
    with backend.transaction() as db:
        failures = db.scalar(select(Throttle.failures).where(
            Throttle.scope == "account", Throttle.key.like("a%")))
    assert failures == 1  # the wrong password, counted once


def test_wrong_codes_count_in_the_login_throttle(backend, clock):
    secret, _codes, _ = enrolled_agent(backend)
    pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    for _ in range(throttle.LOGIN_ACCOUNT.max_failures):
        with pytest.raises(AuthFailed):
            second_factor.complete_login(backend, pending.token, "111111", CALLER)
    with pytest.raises(Throttled):  # even the right code waits now
        second_factor.complete_login(backend, pending.token, code(secret, backend, 30), CALLER)
    # a correct password does not reset the counter while the code is missing
    clock.advance(seconds=61)
    again = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    with backend.transaction() as db:
        rows = {(r.scope, r.failures) for r in db.scalars(select(Throttle))}
    assert ("account", 5) in rows and ("terminal", 5) in rows
    assert second_factor.complete_login(backend, again.token, code(secret, backend), CALLER)
    with backend.transaction() as db:
        assert db.scalar(select(Throttle.failures).where(Throttle.scope == "account")) is None
        events = db.scalars(select(AuditEvent).where(
            AuditEvent.event == "login_second_factor", AuditEvent.outcome == "failed")).all()
    assert len(events) == 5  # the throttled try checked no code


def test_recovery_codes_work_once_each_and_tell_how_many_are_left(backend):
    _secret, codes, _ = enrolled_agent(backend)
    pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    done = second_factor.complete_login(backend, pending.token, codes[0].lower(), CALLER,
                                        recovery=True)
    assert done.recovery_left == 9 and done.params == {"left": 9}
    again = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    with pytest.raises(AuthFailed):
        second_factor.complete_login(backend, again.token, codes[0], CALLER, recovery=True)
    for n, recovery in enumerate(codes[1:8], start=2):
        pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
        left = second_factor.complete_login(backend, pending.token, recovery, CALLER,
                                            recovery=True).recovery_left
        assert left == 10 - n
    assert left == 2
    with backend.transaction() as db:
        used = db.scalars(select(AuditEvent).where(
            AuditEvent.event == "recovery_code_used")).all()
        stored = db.scalars(select(RecoveryCode.code_digest)).all()
    assert [e.details["left"] for e in used] == list(range(9, 1, -1))
    assert not any(c.replace("-", "") in d for c in codes for d in stored)


def test_recovery_letter_is_a_pdf_in_the_export_directory(backend):
    _secret, codes, token = enrolled_agent(backend)
    letter = second_factor.write_recovery_letter(backend, token, codes, CALLER)
    path = backend.settings.resolved_export_dir / letter.path.rsplit("/", 1)[-1]
    assert path.read_bytes().startswith(b"%PDF") and path.stat().st_mode & 0o077 == 0
    with pytest.raises(ValidationFailed):  # only the account's own unused codes
        second_factor.write_recovery_letter(backend, token, ["AAAAA-AAAAA"], CALLER)


def test_supervisor_resets_another_agent_not_themselves(backend, clock):
    enrolled_agent(backend, "desk.anna")
    _s, _c, boss = enrolled_agent(backend, "desk.chefin", "supervisor", PW2)
    agent_session = accounts.login_agent(backend, "desk.anna", PW, CALLER).token
    second_factor.complete_login(backend, agent_session, code(SECRET, backend, 30), CALLER)
    with pytest.raises(NotAllowed):
        second_factor.reset_for_agent(backend, boss, "desk.chefin", CALLER)
    with pytest.raises(NotAllowed):
        second_factor.reset_for_agent(backend, agent_session, "desk.chefin", CALLER)
    with pytest.raises(NotFound):
        second_factor.reset_for_agent(backend, boss, "desk.niemand", CALLER)
    result = second_factor.reset_for_agent(backend, boss, "desk.anna", CALLER)
    assert result.params == {"name": "desk.anna"}
    with pytest.raises(sessions.SessionExpired):  # their sessions ended
        sessions.current(backend, agent_session)
    assert accounts.login_agent(backend, "desk.anna", PW, CALLER).second_factor == "enrol"
    with backend.transaction() as db:
        event = db.scalars(select(AuditEvent).where(
            AuditEvent.event == "second_factor_reset")).one()
    assert event.details["via"] == "desk" and event.details["sessions"] >= 1


def test_cli_reset_for_the_first_supervisor(backend):
    enrolled_agent(backend, "desk.chefin", "supervisor")
    second_factor.reset_by_operator(backend, "Desk.Chefin")
    assert accounts.login_agent(backend, "desk.chefin", PW, CALLER).second_factor == "enrol"
    with pytest.raises(NotFound):
        second_factor.reset_by_operator(backend, "lfuchs")  # customers are not agents


def test_customer_turns_it_on_and_off(backend, clock):
    load_demo(backend)
    token = accounts.login(backend, "kkoehler", DEMO_PASSWORDS["kkoehler"], CALLER).token
    status = second_factor.status(backend, token)
    assert (status.enabled, status.mandatory, status.recommended) == (False, False, True)
    enrolment = second_factor.begin_enrolment(backend, token, secret=SECRET)
    done = second_factor.confirm_enrolment(backend, token, code(SECRET, backend), CALLER)
    assert second_factor.status(backend, token).recovery_left == 10
    clock.advance(seconds=30)
    # the kiosk login now asks for the code after the password
    pending = accounts.login(backend, "kkoehler", DEMO_PASSWORDS["kkoehler"], CALLER)
    assert pending.second_factor == "code"
    decoy = accounts.login(backend, "kkoehler", "wrong-password-here", CALLER)
    assert decoy.second_factor == "code"
    with pytest.raises(AuthFailed):  # without a second factor: the answer at once
        accounts.login(backend, "lfuchs", "wrong-password-here", CALLER)
    assert second_factor.complete_login(backend, pending.token, code(SECRET, backend), CALLER)
    renewed = second_factor.new_recovery_codes(backend, pending.token, CALLER).recovery_codes
    assert set(renewed).isdisjoint(done.recovery_codes)
    clock.advance(seconds=30)
    with pytest.raises(AuthFailed):
        second_factor.disable(backend, pending.token, "wrong-password-here",
                              code(SECRET, backend), CALLER)
    with pytest.raises(AuthFailed):
        second_factor.disable(backend, pending.token, DEMO_PASSWORDS["kkoehler"], "000000",
                              CALLER)
    off = second_factor.disable(backend, pending.token, DEMO_PASSWORDS["kkoehler"],
                                code(SECRET, backend), CALLER)
    assert (off.enabled, off.recommended) == (False, True)
    assert accounts.login(backend, "kkoehler", DEMO_PASSWORDS["kkoehler"],
                          CALLER).second_factor is None
    assert enrolment.account_name == "kkoehler"


def test_turning_it_off_gives_no_free_guesses_at_the_code(backend, clock):
    """With the right password, wrong codes still count: the password's success must not
    reset the account's counter before the code is checked (it did, so a live session plus
    the password allowed unlimited guesses at argon2 speed)."""
    load_demo(backend)
    token = accounts.login(backend, "kkoehler", DEMO_PASSWORDS["kkoehler"], CALLER).token
    second_factor.begin_enrolment(backend, token, secret=SECRET)
    second_factor.confirm_enrolment(backend, token, code(SECRET, backend), CALLER)
    clock.advance(seconds=30)
    right = code(SECRET, backend)
    wrong = f"{(int(right) + 500000) % 1000000:06d}"
    refused = 0
    for _ in range(8):
        try:
            second_factor.disable(backend, token, DEMO_PASSWORDS["kkoehler"], wrong, CALLER)
        except AuthFailed:
            refused += 1
        except Throttled:
            break
    assert refused == 5
    with pytest.raises(Throttled):
        second_factor.disable(backend, token, DEMO_PASSWORDS["kkoehler"], right, CALLER)
    assert second_factor.status(backend, token).enabled


def test_agents_cannot_turn_it_off(backend):
    secret, _codes, token = enrolled_agent(backend)
    with pytest.raises(NotAllowed):
        second_factor.disable(backend, token, PW, code(secret, backend, 30), CALLER)


def test_a_pending_login_expires(backend, clock):
    secret, _codes, _ = enrolled_agent(backend)
    pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    clock.advance(minutes=11)
    with pytest.raises(sessions.SessionExpired):
        second_factor.complete_login(backend, pending.token, code(secret, backend), CALLER)


def _pg_dump(url: str) -> str:
    dump = shutil.which("pg_dump")
    if dump is None:
        pytest.skip("pg_dump is not installed")
    parsed = make_url(url)
    return subprocess.run(
        [dump, "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U",
         parsed.username or "postgres", "--data-only", parsed.database or ""],
        check=True, capture_output=True, text=True, timeout=60).stdout


def test_no_secret_in_the_database_or_the_audit_log(backend, clock):
    secret, codes, _token = enrolled_agent(backend)
    pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    clock.advance(seconds=30)
    second_factor.complete_login(backend, pending.token, code(secret, backend), CALLER)
    with backend.transaction() as db:
        sealed = db.scalars(select(SecondFactor.secret_sealed)).one()
        audit_text = " ".join(str(e.details) for e in db.scalars(select(AuditEvent)))
        assert db.scalars(select(Session.second_factor)).all() == [None, None]
    assert secret not in sealed and len(sealed) > len(secret)
    assert secret not in audit_text and not any(c in audit_text for c in codes)
    if backend.is_sqlite:
        backend.dispose()
        path = backend.database_url.removeprefix("sqlite:///")
        raw = b"".join(open(p, "rb").read() for p in (path, path + "-wal")
                       if __import__("os").path.exists(p))
        assert raw and secret.encode() not in raw and secret.lower().encode() not in raw
        assert all(c.encode() not in raw and c.replace("-", "").encode() not in raw
                   for c in codes)
    else:
        dumped = _pg_dump(backend.database_url)
        assert "second_factor" in dumped and sealed in dumped  # the dump has the table
        assert secret not in dumped and not any(c in dumped for c in codes)


# --------------------------------------------------------------------------- processes


def _complete_worker(url: str, home: str, barrier, token: str, code_text: str,
                     terminal: str) -> str:
    from pathlib import Path

    from services.backend import Backend
    from services.config import Settings
    from services.errors import DomainError

    backend = Backend(Settings(home=Path(home), terminal_id=terminal),  # type: ignore[call-arg]
                      database_url=url)
    try:
        barrier.wait(timeout=60)
        try:
            second_factor.complete_login(backend, token, code_text,
                                         Caller(terminal_id=terminal))
            return "ok"
        except DomainError as exc:
            return type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            return f"crash {exc!r}"
    finally:
        backend.dispose()


def test_two_processes_with_the_same_code_one_wins(backend):
    """Two terminals (processes) submit the same code for the same agent at one moment,
    released at a barrier: exactly one login is completed, the other is refused."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from services.backend import Backend

    real = Backend(backend.settings, database_url=backend.database_url,
                   hasher=backend.hasher)  # the real clock: the workers use it too
    try:
        agents.create_agent(real, "desk.anna", "agent", PW)
        pending = accounts.login_agent(real, "desk.anna", PW, CALLER)
        second_factor.begin_enrolment(real, pending.token, secret=SECRET)
        second_factor.confirm_enrolment(real, pending.token, code(SECRET, real, -30), CALLER)
        tokens = [accounts.login_agent(real, "desk.anna", PW, CALLER).token for _ in range(2)]
        shared = code(SECRET, real, 30)  # a step after the enrolment's, valid for a minute
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, ProcessPoolExecutor(
                max_workers=2, mp_context=context) as pool:
            barrier = manager.Barrier(2)
            futures = [pool.submit(_complete_worker, real.database_url,
                                   str(real.settings.home), barrier, token, shared,
                                   f"desk-{n}") for n, token in enumerate(tokens)]
            results = sorted(f.result(timeout=120) for f in futures)
        assert results == ["AuthFailed", "ok"], results
        with real.transaction() as db:
            full = db.scalars(select(Session).where(Session.second_factor.is_(None),
                                                    Session.ended_at.is_(None))).all()
        assert len(full) == 2  # the enrolment's session and the one winner
    finally:
        real.dispose()


def test_cli_reset_2fa(backend, capsys):
    """``kiosk agent reset-2fa NAME`` prints what it did; an unknown name is one sentence and a
    non-zero exit."""
    from tui.cli import main

    enrolled_agent(backend, "desk.chefin", "supervisor")
    env_home = str(backend.settings.home)
    import os

    old = os.environ.get("KIOSK_HOME")
    os.environ["KIOSK_HOME"] = env_home  # the same secret key as the test backend
    try:
        assert main(["agent", "reset-2fa", "desk.chefin", "--db", backend.database_url]) == 0
        assert "desk.chefin" in capsys.readouterr().out
        assert main(["agent", "reset-2fa", "desk.niemand", "--db", backend.database_url]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("kiosk:") and len(err.splitlines()) == 1
    finally:
        if old is None:
            os.environ.pop("KIOSK_HOME", None)
        else:
            os.environ["KIOSK_HOME"] = old
    assert accounts.login_agent(backend, "desk.chefin", PW, CALLER).second_factor == "enrol"


def test_any_typed_code_is_a_clear_answer(backend):
    """Free text in the code field (property test): never a crash, only the neutral refusal
    or "please enter the code" — and never a login."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from services.errors import DomainError

    secret, _codes, _ = enrolled_agent(backend)
    pending = accounts.login_agent(backend, "desk.anna", PW, CALLER)
    right = {code(secret, backend, s) for s in (-30, 0, 30)}

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.text(max_size=40), st.booleans())
    def typed(value: str, recovery: bool) -> None:
        if value.strip() in right:
            return
        with pytest.raises(DomainError) as refused:
            second_factor.complete_login(backend, pending.token, value, CALLER,
                                         recovery=recovery)
        assert isinstance(refused.value, (AuthFailed, ValidationFailed, Throttled))

    typed()
