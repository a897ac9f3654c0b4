"""The links in mails, answered by `kiosk serve`: the real aiohttp application of the server
(textual-serve plus tui.weblinks) in-process, against SQLite, driven over HTTP."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from conftest import make_settings
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from test_serve_browser import CHROMEDRIVER, CHROMIUM, Served, needs_chromium

from db.models import Account, AuditEvent, EmailToken, Membership
from services import accounts, mail, organisations, passwords, sessions
from services.backend import Backend
from services.caller import Caller
from services.demo import load_demo
from services.errors import DomainError, ValidationFailed
from services.i18n import translate
from tui.serve import ServeOptions, kiosk_server
from tui.weblinks import MSG_INVALID_LINK, choose_language, error_pages

CALLER = Caller(terminal_id="kiosk-1", language="de")
PW = "blauer Kaffeebecher am Fenster"
PW_NEW = "Zitronenfalter über der Wiese"
KK_PASSWORD = "Praxisschild-Isar-Wolke-2026"
NEUTRAL_DE = translate("de", MSG_INVALID_LINK)
NEUTRAL_EN = MSG_INVALID_LINK
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def registration(**over: object) -> dict[str, object]:
    data: dict[str, object] = dict(
        type="private", username="maxmuster", email="max.muster@example.com", password=PW,
        password_confirm=PW, salutation="Herr", first_name="Max", last_name="Müller",
        street="Hauptstr. 1", postal_code="34117", city="Kassel", country="DE",
        customer_number=None, terms=True, marketing=False)
    data.update(over)
    return data


def link_path(backend, template: str, to: str | None = None) -> str:
    """The path of the link in the newest mail of ``template`` (as a browser would open it)."""
    with backend.transaction() as db:
        rows = [m for m in mail.outbox(db) if m.template == template and (to is None or m.to == to)]
        assert rows, f"no mail {template}"
        link = rows[-1].params["link"]
    assert link in rows[-1].body
    return urlsplit(link).path


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def account_row(backend, email: str = "max.muster@example.com") -> Account:
    with backend.transaction() as db:
        row = db.scalars(select(Account).where(Account.email_key == email)).one()
        db.expunge(row)
        return row


@pytest.fixture
async def client(sqlite_backend) -> AsyncIterator[TestClient]:
    """The application `kiosk serve` runs, with the same routes and middleware."""
    app = await kiosk_server(ServeOptions(), sqlite_backend).web_app()
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def page_of(client: TestClient, path: str, **kwargs: object) -> tuple[int, str]:
    response = await client.get(path, **kwargs)
    return response.status, await response.text()


async def post(client: TestClient, path: str, data: dict[str, str], lang: str = "de"
               ) -> tuple[int, str]:
    response = await client.post(f"{path}?lang={lang}", data=data)
    return response.status, await response.text()


# --------------------------------------------------------------------------- /verify


async def test_verify_link_shows_a_button_then_confirms_once(client, sqlite_backend) -> None:
    accounts.register(sqlite_backend, registration(), CALLER)
    path = link_path(sqlite_backend, "verify_email")
    assert path.startswith("/verify/")
    status, page = await page_of(client, path)
    assert status == 200 and '<html lang="de">' in page
    assert "E-Mail-Adresse bestätigen" in page and '<button type="submit">Bestätigen' in page
    # a mail scanner fetching the link twice changes nothing
    await page_of(client, path)
    assert account_row(sqlite_backend).status == "unverified"
    form = hidden_fields(page)
    status, done = await post(client, path, form)
    assert status == 200
    assert "Ihre E-Mail-Adresse ist bestätigt" in done and "Nächster Schritt" in done
    account = account_row(sqlite_backend)
    assert account.status == "active" and account.verified_at is not None
    # the same link again: the neutral page, nothing else
    status, again = await post(client, path, form)
    assert status == 410 and NEUTRAL_DE in again and "maxmuster" not in again
    # the account can log in now
    assert accounts.login(sqlite_backend, "maxmuster", PW, CALLER).token


async def test_verify_in_english_by_query_or_browser_language(client, sqlite_backend) -> None:
    accounts.register(sqlite_backend, registration(), CALLER)
    path = link_path(sqlite_backend, "verify_email")
    _status, page = await page_of(client, path + "?lang=en")
    assert '<html lang="en">' in page and "Confirm your e-mail address" in page
    _status, page = await page_of(client, path,
                                  headers={"Accept-Language": "fr;q=1, en-GB;q=0.8, de;q=0.5"})
    assert '<html lang="en">' in page and '<button type="submit">Confirm</button>' in page
    _status, page = await page_of(client, path, headers={"Accept-Language": "en;q=0.3, de"})
    assert '<html lang="de">' in page
    status, done = await post(client, path, hidden_fields(page), lang="en")
    assert status == 200 and "Your e-mail address is confirmed. You can now log in." in done


async def test_post_needs_the_form_digest_of_this_link(client, sqlite_backend) -> None:
    accounts.register(sqlite_backend, registration(), CALLER)
    path = link_path(sqlite_backend, "verify_email")
    status, page = await post(client, path, {})
    assert status == 400 and NEUTRAL_DE in page
    status, page = await post(client, path, {"csrf": "0" * 64})
    assert status == 400 and NEUTRAL_DE in page
    # the digest of another link does not fit either
    other = "/verify/" + "A" * 32
    _status, other_page = await page_of(client, other)
    status, page = await post(client, path, hidden_fields(other_page))
    assert status == 400
    assert account_row(sqlite_backend).status == "unverified"


# --------------------------------------------------------------------------- /reset


async def test_reset_with_weak_then_strong_password(client, sqlite_backend) -> None:
    accounts.register(sqlite_backend, registration(), CALLER)
    code = None
    with sqlite_backend.transaction() as db:
        code = [m for m in mail.outbox(db) if m.template == "verify_email"][-1].params["code"]
    accounts.verify_email(sqlite_backend, "maxmuster", code, CALLER)
    accounts.request_password_reset(sqlite_backend, "maxmuster", CALLER)
    path = link_path(sqlite_backend, "password_reset")
    assert path.startswith("/reset/")
    status, page = await page_of(client, path)
    assert status == 200 and 'autocomplete="new-password"' in page
    assert '<label for="new_password">Neues Passwort</label>' in page
    form = hidden_fields(page)
    # too short: the policy message beside the field, in German
    status, weak = await post(client, path, {**form, "new_password": "kurz",
                                             "password_confirm": "kurz"})
    assert status == 422
    assert translate("de", passwords.MSG_TOO_SHORT) in weak
    assert 'aria-describedby="new_password-error"' in weak and 'id="new_password-error"' in weak
    # the confirmation differs
    status, differs = await post(client, path, {**form, "new_password": PW_NEW,
                                                "password_confirm": PW_NEW + "x"})
    assert status == 422 and translate("de", accounts.MSG_CONFIRM) in differs
    # the account's own name (checked by the service with the account): link stays valid
    named = "Max Müller wohnt in Kassel am Fluss"
    status, personal = await post(client, path, {**form, "new_password": named,
                                                 "password_confirm": named}, lang="en")
    assert status == 422 and passwords.MSG_CONTAINS_NAME in personal
    status, done = await post(client, path, {**form, "new_password": PW_NEW,
                                              "password_confirm": PW_NEW})
    assert status == 200 and "Ihr Passwort wurde geändert" in done
    assert accounts.login(sqlite_backend, "maxmuster", PW_NEW, CALLER).token
    with pytest.raises(accounts.DomainError):
        accounts.login(sqlite_backend, "maxmuster", PW, CALLER)
    status, again = await post(client, path, {**form, "new_password": PW + "!",
                                              "password_confirm": PW + "!"})
    assert status == 410 and NEUTRAL_DE in again
    assert accounts.login(sqlite_backend, "maxmuster", PW_NEW, CALLER).token


async def test_verify_link_is_no_reset_link(client, sqlite_backend) -> None:
    accounts.register(sqlite_backend, registration(), CALLER)
    token = link_path(sqlite_backend, "verify_email").rsplit("/", 1)[1]
    path = f"/reset/{token}"
    _status, page = await page_of(client, path)
    status, refused = await post(client, path, {**hidden_fields(page), "new_password": PW_NEW,
                                                "password_confirm": PW_NEW})
    assert status == 410 and NEUTRAL_DE in refused
    assert account_row(sqlite_backend).status == "unverified"


@pytest.fixture
async def any_client(backend) -> AsyncIterator[TestClient]:
    """The same application on SQLite and PostgreSQL."""
    app = await kiosk_server(ServeOptions(), backend).web_app()
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_same_link_posted_twice_at_once_acts_once(any_client, backend) -> None:
    accounts.register(backend, registration(), CALLER)
    path = link_path(backend, "verify_email")
    _status, page = await page_of(any_client, path)
    form = hidden_fields(page)
    results = await asyncio.gather(*(post(any_client, path, form) for _ in range(4)))
    assert sorted(status for status, _text in results) == [200, 410, 410, 410]
    with backend.transaction() as db:
        events = db.scalars(select(AuditEvent).where(
            AuditEvent.event == "email_verification", AuditEvent.outcome == "ok")).all()
    assert len(events) == 1


def test_reset_by_link_service(backend) -> None:
    """``accounts.reset_password_link``: a refused password keeps the link, it works once,
    and only for its purpose."""
    accounts.register(backend, registration(), CALLER)
    verify_token = link_path(backend, "verify_email").rsplit("/", 1)[1]
    with pytest.raises(ValidationFailed):
        accounts.reset_password_link(backend, verify_token, PW_NEW, CALLER)
    accounts.verify_email_link(backend, verify_token, CALLER)
    accounts.request_password_reset(backend, "maxmuster", CALLER)
    token = link_path(backend, "password_reset").rsplit("/", 1)[1]
    with pytest.raises(ValidationFailed) as weak:
        accounts.reset_password_link(backend, token, "kurz", CALLER)
    assert weak.value.fields == {"new_password": passwords.MSG_TOO_SHORT}
    with pytest.raises(ValidationFailed) as named:
        accounts.reset_password_link(backend, token, "Der Müller fährt gern Fahrrad", CALLER)
    assert named.value.fields == {"new_password": passwords.MSG_CONTAINS_NAME}
    session = accounts.login(backend, "maxmuster", PW, CALLER).token
    assert accounts.reset_password_link(backend, token, PW_NEW, CALLER).message == \
        accounts.MSG_RESET_DONE
    with pytest.raises(ValidationFailed) as used:
        accounts.reset_password_link(backend, token, PW_NEW + "!", CALLER)
    assert used.value.fields == {"code": accounts.MSG_CODE_INVALID}
    assert accounts.login(backend, "maxmuster", PW_NEW, CALLER).token
    with pytest.raises(DomainError):  # the reset ended the sessions of the account
        sessions.current(backend, session)
    with backend.transaction() as db:
        details = str([e.details for e in db.scalars(select(AuditEvent))])
        changed = [m for m in mail.outbox(db) if m.template == "password_changed"]
    assert token not in details and PW_NEW not in details and len(changed) == 1


# --------------------------------------------------------------------------- /confirm-email


async def test_email_change_link_explains_the_code(client, sqlite_backend) -> None:
    load_demo(sqlite_backend)
    token = accounts.login(sqlite_backend, "kkoehler", KK_PASSWORD, CALLER).token
    accounts.request_email_change(sqlite_backend, token, KK_PASSWORD, "neu@example.de")
    path = link_path(sqlite_backend, "email_change_confirm")
    assert path.startswith("/confirm-email/")
    status, text = await page_of(client, path)
    assert status == 200 and "Code aus der E-Mail" in text and "<form" not in text
    status, text = await page_of(client, path + "?lang=en")
    assert status == 200 and "enter the code from the e-mail in the app" in text
    assert (await client.post(path)).status == 405
    with sqlite_backend.transaction() as db:
        assert db.scalar(select(Account.email).where(Account.username == "kkoehler")) != \
            "neu@example.de"
        assert db.scalar(select(EmailToken.used_at).where(
            EmailToken.new_email == "neu@example.de")) is None


# --------------------------------------------------------------------------- /org


APPLICANT = {"email": "mia.berg@example.de", "customer_number": "300001",
             "postal_code": "80331", "first_name": "Mia", "last_name": "Berg",
             "privacy": True, "marketing": False}


def membership_state(backend, email: str = "mia.berg@example.de") -> str:
    with backend.transaction() as db:
        return db.scalar(select(Membership.state).where(Membership.email_key == email))


async def test_org_confirm_and_complete_by_link(client, sqlite_backend) -> None:
    load_demo(sqlite_backend)
    organisations.submit_registration(sqlite_backend, APPLICANT, CALLER)
    path = link_path(sqlite_backend, "org_confirm", "mia.berg@example.de")
    assert path.startswith("/org/confirm/")
    status, page = await page_of(client, path + "?lang=en")
    assert status == 200 and "Confirm your registration" in page
    assert membership_state(sqlite_backend) == "pending_email"
    status, done = await post(client, path, hidden_fields(page), lang="en")
    assert status == 200 and "super admin" in done
    assert membership_state(sqlite_backend) == "pending_approval"
    # the super admin approves at the kiosk
    kk = accounts.login(sqlite_backend, "kkoehler", KK_PASSWORD, CALLER).token
    sessions.reauthenticate(sqlite_backend, kk, KK_PASSWORD)
    with sqlite_backend.transaction() as db:
        customer_id, membership_id = db.execute(select(
            Membership.customer_id, Membership.id).where(
            Membership.email_key == "mia.berg@example.de")).one()
    organisations.decide(sqlite_backend, kk, customer_id, membership_id, True, None, CALLER)
    path = link_path(sqlite_backend, "org_complete", "mia.berg@example.de")
    assert path.startswith("/org/complete/")
    status, page = await page_of(client, path)
    assert status == 200 and "Nutzungsbedingungen" in page and "Datenschutzerklärung" in page
    form = hidden_fields(page)
    # nothing accepted, too short: every message beside its field, the link is not used
    status, errors = await post(client, path, {**form, "password": "kurz",
                                               "password_confirm": "kurz"})
    assert status == 422
    for field, msgid in (("terms", organisations.MSG_TERMS),
                         ("privacy", organisations.MSG_PRIVACY),
                         ("password", passwords.MSG_TOO_SHORT)):
        assert f'id="{field}-error">{html.escape(translate("de", msgid))}<' in errors
    assert "finish" not in hidden_fields(errors)
    # the applicant's own name passes the first check; the service refuses it with the names
    named = "Mia Berg aus der Praxis Köhler"
    status, named_page = await post(client, path, {**form, "terms": "yes", "privacy": "yes",
                                                   "password": named, "password_confirm": named})
    assert status == 422
    assert html.escape(translate("de", passwords.MSG_CONTAINS_NAME)) in named_page
    assert 'checked' in named_page
    sealed = hidden_fields(named_page)
    assert "?lang=en" not in named_page  # a language switch would lose the redeemed state
    assert sealed["finish"] and sealed["email"] == "mia.berg@example.de"
    # an edited address in the hidden state is refused
    status, _refused = await post(client, path, {**sealed, "email": "dr.koehler@example.de",
                                                 "terms": "yes", "privacy": "yes",
                                                 "password": PW_NEW, "password_confirm": PW_NEW})
    assert status == 400
    status, done = await post(client, path, {**sealed, "terms": "yes", "privacy": "yes",
                                             "password": PW_NEW, "password_confirm": PW_NEW})
    assert status == 200 and "Registrierung abgeschlossen" in done
    assert membership_state(sqlite_backend) == "active"
    assert accounts.login(sqlite_backend, "mia.berg@example.de", PW_NEW, CALLER).token
    status, again = await post(client, path, {**form, "terms": "yes", "privacy": "yes",
                                              "password": PW_NEW, "password_confirm": PW_NEW})
    assert status == 410 and NEUTRAL_DE in again


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    "<script>alert(1)</script>", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "..%2F..%2Fetc%2Fpasswd",
    "' OR '1'='1", "A" * 5000, "%00" * 40, "ÄÖÜäöüß" * 5, "\"onmouseover=alert(1)",
    "", "a/b/c", "%E2%80%AE" + "x" * 30,
]


@pytest.mark.parametrize("prefix", ["verify", "reset", "org/confirm", "org/complete"])
@pytest.mark.parametrize("token", HOSTILE)
async def test_hostile_tokens_get_the_neutral_page(client, prefix: str, token: str) -> None:
    for method in ("get", "post"):
        response = await getattr(client, method)(f"/{prefix}/{token}")
        text = await response.text()
        assert response.status == 400, (method, token)
        assert NEUTRAL_DE in text and "Traceback" not in text
        assert "<script>" not in text and "alert(1)" not in text and "passwd" not in text


async def test_unknown_token_of_the_right_form_is_410(client) -> None:
    _status, page = await page_of(client, "/verify/" + "B" * 32)
    status, text = await post(client, "/verify/" + "B" * 32, hidden_fields(page), lang="en")
    assert status == 410 and NEUTRAL_EN in text


async def test_unexpected_error_is_a_plain_page_not_a_traceback() -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail /home/kiosk")

    app = web.Application(middlewares=[error_pages])
    app.router.add_get("/verify/x", broken)
    async with TestClient(TestServer(app)) as test_client:
        response = await test_client.get("/verify/x", headers={"Accept-Language": "en"})
        text = await response.text()
    assert response.status == 500 and "Something went wrong" in text
    assert "secret detail" not in text and "Traceback" not in text


async def test_unreachable_database_is_a_clear_page(client, sqlite_backend, tmp_path) -> None:
    from db.engine import make_engine

    _status, page = await page_of(client, "/verify/" + "C" * 32)
    sqlite_backend.engine.dispose()
    gone = tmp_path / "gone"
    gone.mkdir()
    sqlite_backend.engine = make_engine(f"sqlite:///{gone}/kiosk.db")
    gone.rmdir()  # the database's directory disappears (unmounted share, deleted volume)
    sqlite_backend.sessions.configure(bind=sqlite_backend.engine)
    status, text = await post(client, "/verify/" + "C" * 32, hidden_fields(page))
    assert status == 503 and "nicht erreichbar" in text


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_a_supported_language(header: str) -> None:
    clean = "".join(ch for ch in header if 32 <= ord(ch) < 127)
    request = make_mocked_request("GET", "/verify/x", headers={"Accept-Language": clean})
    assert choose_language(request) in ("de", "en")


# --------------------------------------------------------------------------- a real browser


@needs_chromium
def test_real_browser_on_a_running_kiosk_serve(tmp_path) -> None:
    """`kiosk serve` as a process, headless Chromium (English browser): the link page, its
    button and the password form work under the pages' Content-Security-Policy."""
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    served = Served(tmp_path)
    backend = Backend(make_settings(tmp_path / "home", public_url=served.url),
                      database_url=served.db)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(10)

    def heading(expected: str) -> None:
        # the page is replaced after a POST: an <h1> found a moment before may be gone, which
        # Chrome also reports as an "unknown error" of a node that left the document
        def shown(d: webdriver.Chrome) -> bool:
            try:
                return d.find_element(By.TAG_NAME, "h1").text == expected
            except WebDriverException as exc:
                if "does not belong to the document" in (exc.msg or ""):
                    return False
                raise

        WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
            shown)

    try:
        accounts.register(backend, registration(), CALLER)
        with backend.transaction() as db:
            sent = [m for m in mail.outbox(db) if m.template == "verify_email"][-1]
            link = sent.params["link"]
        assert link.startswith(served.url + "/verify/")
        driver.get(link + "?lang=en")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Confirm your e-mail address"
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        heading("E-mail address confirmed")
        assert account_row(backend).status == "active"
        accounts.request_password_reset(backend, "maxmuster", CALLER)
        with backend.transaction() as db:
            link = [m for m in mail.outbox(db) if m.template == "password_reset"][-1].params["link"]
        driver.get(link)  # no ?lang: the browser's Accept-Language (en-US) decides
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        for value in ("kurz", PW_NEW):
            driver.find_element(By.ID, "new_password").send_keys(value)
            driver.find_element(By.ID, "password_confirm").send_keys(value)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            if value == "kurz":
                error = driver.find_element(By.ID, "new_password-error").text
                assert error == passwords.MSG_TOO_SHORT
        heading("Password changed")
        assert accounts.login(backend, "maxmuster", PW_NEW, CALLER).token
        assert "Traceback" not in served.log_text()
    finally:
        driver.quit()
        backend.dispose()
        served.stop()
