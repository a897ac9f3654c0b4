"""Issue 20 item 8: hostile text at every service entry point that takes free text, on SQLite
and PostgreSQL — a fixed payload set (markup, control characters, NUL, lone surrogates, very
long strings, RTL marks, zero-width characters) in every text argument, then a short hypothesis
run. The only exceptions allowed are the services' typed domain errors; NUL and lone surrogates
are refused with the field named."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from db.models import Account, Customer, Membership
from services import (
    accounts,
    agents,
    backoffice,
    backoffice_actions,
    contracts,
    customer_login,
    customer_numbers,
    feedback,
    merge,
    normalize,
    organisations,
    products,
    profile,
    sessions,
)
from services.caller import Caller
from services.demo import load_demo
from services.errors import DomainError, ValidationFailed

CALLER = Caller(terminal_id="fuzz-terminal")
PW = "Lange-genug-Passwort-2026"
PAYLOADS = [
    "[b]Fett[/b] [@click=app.logout]Klick[/] GmbH", "Praxis [Zweigstelle Nord] GmbH", "[/]",
    "\x00", "a\x00b", "\ud800", "x\udfffy", "\x1b[31mrot\x1b[0m", "Zeile\nZwei", "\t", "\x7f",
    "\x85", "\u2028", "\u200b", "\u200e\u200fabc", "\u202eRTL", "A" * 10_000, "9" * 5_000, "",
    " ", "😀" * 50, "'; DROP TABLE accounts; --", "100001\x00",
]
#: For each field of a form (a dict argument): the payloads that broke something once.
CORE = [PAYLOADS[0], "[/]", "a\x00b", "x\udfffy", "\x1b[31mrot\x1b[0m", "Zeile\nZwei",
        "\u202eRTL", "\u200b", "A" * 10_000]
#: Search boxes strip such characters and search for the rest instead of refusing.
STRIPPED = {"backoffice.search", "backoffice_actions.linked_account_choices"}
#: The field must be refused by name: NUL and lone surrogates, everywhere.
REFUSED = [p for p in PAYLOADS if "\x00" in p or any(0xD800 <= ord(c) <= 0xDFFF for c in p)]


@dataclass
class World:
    backend: Any
    ids: dict[str, int] = field(default_factory=dict)

    def user(self, name: str = "lfuchs") -> str:
        return sessions.open_session(self.backend, self.ids[name], terminal_id="fuzz")

    customer_token: str | None = None

    def customer(self) -> str:
        if self.customer_token is None:  # once: the wrong passwords below count at the terminal
            self.customer_token = customer_login.login(
                self.backend, "200001", "Gartenzwerg-Elbe-Kiesel-42", Caller()).token
        return self.customer_token


@pytest.fixture
def world(backend) -> World:
    load_demo(backend)
    agents.create_agent(backend, "fuzzdesk", "supervisor", PW)
    w = World(backend)
    with backend.transaction() as db:
        for account in db.scalars(select(Account)):
            w.ids[account.username or account.email] = account.id
        w.ids["company"] = db.scalar(select(Customer.id).where(Customer.number == "300001"))
        w.ids["customer"] = db.scalar(select(Customer.id).where(Customer.number == "100005"))
        w.ids["membership"] = db.scalar(select(Membership.id).order_by(Membership.id))
    return w


def _person(**over: Any) -> dict[str, Any]:
    return {"salutation": "Frau", "first_name": "Mia", "last_name": "Berg",
            "street": "Hauptstr. 1", "postal_code": "34117", "city": "Kassel", "country": "DE",
            **over}


#: name -> (call(world, **texts), default texts). Every text is fuzzed in turn; a dict value
#: ``{"data": {...}}`` fuzzes each of its string values.
ENTRY_POINTS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "accounts.login": (lambda w, **t: accounts.login(w.backend, t["identifier"], t["password"],
                                                     CALLER), {"identifier": "lfuchs", "password": "falsch"}),
    "accounts.login_agent": (lambda w, **t: accounts.login_agent(
        w.backend, t["identifier"], t["password"], CALLER), {"identifier": "fuzzdesk", "password": "x"}),
    "accounts.register": (lambda w, **t: accounts.register(w.backend, t["data"], CALLER), {"data": _person(
        type="private", username="fuzzer", email="fuzz@example.org", password=PW, password_confirm=PW,
        customer_number="", terms=True, marketing=False)}),
    "accounts.request_password_reset": (lambda w, **t: accounts.request_password_reset(
        w.backend, t["identifier"], CALLER), {"identifier": "lfuchs"}),
    "accounts.resend_verification": (lambda w, **t: accounts.resend_verification(
        w.backend, t["identifier"], CALLER), {"identifier": "eneu"}),
    "accounts.reset_password": (lambda w, **t: accounts.reset_password(
        w.backend, t["identifier"], t["code"], t["new_password"], CALLER),
        {"identifier": "lfuchs", "code": "123456", "new_password": PW}),
    "accounts.reset_password_link": (lambda w, **t: accounts.reset_password_link(
        w.backend, t["link_token"], t["new_password"], CALLER), {"link_token": "abc", "new_password": PW}),
    "accounts.verify_email": (lambda w, **t: accounts.verify_email(
        w.backend, t["identifier"], t["code"], CALLER), {"identifier": "eneu", "code": "123456"}),
    "accounts.verify_email_link": (lambda w, **t: accounts.verify_email_link(
        w.backend, t["link_token"], CALLER), {"link_token": "abc"}),
    "accounts.change_password": (lambda w, **t: accounts.change_password(
        w.backend, w.user(), t["current"], t["new"]), {"current": "falsch", "new": PW}),
    "accounts.request_email_change": (lambda w, **t: accounts.request_email_change(
        w.backend, w.user(), t["password"], t["new_email"]),
        {"password": "falsch", "new_email": "neu@example.org"}),
    "accounts.confirm_email_change": (lambda w, **t: accounts.confirm_email_change(
        w.backend, w.user(), t["code"]), {"code": "123456"}),
    "agents.create_agent": (lambda w, **t: agents.create_agent(
        w.backend, t["name"], "agent", t["password"]), {"name": "neuagent", "password": PW}),
    "backoffice.search": (lambda w, **t: backoffice.search(w.backend, w.user("fuzzdesk"), t["query"]),
                          {"query": "Müller"}),
    "backoffice.find_number": (lambda w, **t: backoffice.find_number(
        w.backend, w.user("fuzzdesk"), t["number"]), {"number": "100001"}),
    "backoffice.comment": (lambda w, **t: backoffice.comment(w.backend, w.user("fuzzdesk"), 1, t["body"]),
                           {"body": "Notiz"}),
    "backoffice.close": (lambda w, **t: backoffice.close(
        w.backend, w.user("fuzzdesk"), 1, t["outcome"], t["note"]), {"outcome": "resolved", "note": "ok"}),
    "backoffice.close_membership": (lambda w, **t: backoffice.close_membership(
        w.backend, w.user("fuzzdesk"), w.ids["membership"], t["outcome"], t["note"]),
        {"outcome": "rejected", "note": "ok"}),
    "backoffice_actions.linked_account_choices": (lambda w, **t: backoffice_actions.linked_account_choices(
        w.backend, w.user("fuzzdesk"), t["query"]), {"query": "luk"}),
    "backoffice_actions.reassign_number": (lambda w, **t: backoffice_actions.reassign_number(
        w.backend, w.user("fuzzdesk"), w.ids["customer"], w.ids["lfuchs"], t["note"]), {"note": "x"}),
    "backoffice_actions.reverse_merge": (lambda w, **t: backoffice_actions.reverse_merge(
        w.backend, w.user("fuzzdesk"), 1, CALLER, t["reason"]), {"reason": "x"}),
    "contracts.customer_data": (lambda w, **t: contracts.customer_data(
        w.backend, w.user(), t["number"]), {"number": "431177"}),
    "contracts.link_contract": (lambda w, **t: contracts.link_contract(w.backend, w.user(), t["data"], CALLER), {
        "data": {"number": "431177", "birth_date": "1999-01-01", "last_name": "Musterjobber",
                 "postal_code": "34117"}}),
    "contracts.object_to_link": (lambda w, **t: contracts.object_to_link(
        w.backend, w.user(), t["code"], CALLER), {"code": "ABCD-EFGH"}),
    "contracts.request_contract_support": (lambda w, **t: contracts.request_contract_support(
        w.backend, w.user(), t["data"], CALLER), {"data": {
            "number": "431177", "birth_date": "1999-01-01", "last_name": "Musterjobber",
            "postal_code": "34117", "message": "Bitte helfen"}}),
    "contracts.set_advertising_consent": (lambda w, **t: contracts.set_advertising_consent(
        w.backend, w.user(), t["number"], True, CALLER), {"number": "431177"}),
    "contracts.unlink_contract": (lambda w, **t: contracts.unlink_contract(
        w.backend, w.user(), w.ids["customer"], t["number"], CALLER, t["note"]),
        {"number": "431177", "note": ""}),
    "contracts.update_customer_data": (lambda w, **t: contracts.update_customer_data(
        w.backend, w.user(), t["number"], t["data"], CALLER), {"number": "431177", "data": _person()}),
    "customer_login.login": (lambda w, **t: customer_login.login(
        w.backend, t["number"], t["password"], CALLER), {"number": "200001", "password": "x"}),
    "customer_login.login_any": (lambda w, **t: customer_login.login_any(
        w.backend, t["identifier"], t["password"], CALLER), {"identifier": "200001", "password": "x"}),
    "customer_login.reauthenticate": (lambda w, **t: customer_login.reauthenticate(
        w.backend, w.customer(), t["password"]), {"password": "x"}),
    "customer_numbers.link_customer_number": (lambda w, **t: customer_numbers.link_customer_number(
        w.backend, w.user("eneu"), t["code"], t["number"], CALLER),
        {"code": "AAAA-BBBB-CCCC", "number": "100004"}),
    "customer_numbers.request_link_support": (lambda w, **t: customer_numbers.request_link_support(
        w.backend, w.user("eneu"), t["code"], t["number"], CALLER),
        {"code": "FUXC-4HNT-7KAR", "number": "100005"}),
    "customer_numbers.unlink_customer_number": (lambda w, **t: customer_numbers.unlink_customer_number(
        w.backend, w.user(), t["number"], t["password"], CALLER), {"number": "100005", "password": "x"}),
    "feedback.submit_feedback": (lambda w, **t: feedback.submit_feedback(
        w.backend, article=t["article"], helpful=False, reason=t["reason"], comment=t["comment"],
        caller=CALLER), {"article": "welcome", "reason": "other", "comment": "Gut"}),
    "merge.compare": (lambda w, **t: merge.compare(
        w.backend, w.user("amueller"), t["keep"], t["other"], t["credential"], CALLER),
        {"keep": "200001", "other": "200002", "credential": "falsch"}),
    "merge.submit": (lambda w, **t: merge.submit(
        w.backend, w.user("amueller"), t["keep"], t["other"], t["credential"], False, CALLER),
        {"keep": "200001", "other": "200002", "credential": "falsch"}),
    "merge.reauthenticate": (lambda w, **t: merge.reauthenticate(w.backend, w.user("amueller"), t["password"]),
                             {"password": "x"}),
    "organisations.check_company": (lambda w, **t: organisations.check_company(w.backend, t["data"], CALLER), {
        "data": {"email": "mia@example.de", "customer_number": "300001", "postal_code": "80331"}}),
    "organisations.submit_registration": (lambda w, **t: organisations.submit_registration(
        w.backend, t["data"], CALLER), {"data": {
            "email": "mia@example.de", "customer_number": "300001", "postal_code": "80331",
            "first_name": "Mia", "last_name": "Berg", "privacy": True, "marketing": False}}),
    "organisations.redeem_code": (lambda w, **t: organisations.redeem_code(
        w.backend, t["email"], t["code"], CALLER), {"email": "mia@example.de", "code": "123456"}),
    "organisations.redeem_link": (lambda w, **t: organisations.redeem_link(w.backend, t["link"], CALLER),
                                  {"link": "abc"}),
    "organisations.resend_code": (lambda w, **t: organisations.resend_code(w.backend, t["email"], CALLER),
                                  {"email": "mia@example.de"}),
    "organisations.complete_registration": (lambda w, **t: organisations.complete_registration(
        w.backend, t["email"], t["finish"], t["data"], CALLER), {
            "email": "mia@example.de", "finish": "abc", "data": {
                "password": PW, "password_confirm": PW, "terms": True, "privacy": True}}),
    "organisations.add_contact": (lambda w, **t: organisations.add_contact(
        w.backend, w.user("kkoehler"), w.ids["company"], t["data"], CALLER), {"data": _person(
            email="kontakt@example.de", role="member")}),
    "organisations.change_role": (lambda w, **t: organisations.change_role(
        w.backend, w.user("kkoehler"), w.ids["company"], w.ids["membership"], t["role"], CALLER),
        {"role": "admin"}),
    "organisations.decide": (lambda w, **t: organisations.decide(
        w.backend, w.user("kkoehler"), w.ids["company"], w.ids["membership"], False, t["reason"],
        CALLER), {"reason": "Unbekannt"}),
    "products.redeem_key": (lambda w, **t: products.redeem_key(w.backend, w.user(), t["key"], CALLER),
                            {"key": "XXXX-XXXX-XXXX-XXXX"}),
    "profile.add_email": (lambda w, **t: profile.add_email(w.backend, w.user(), t["address"], CALLER),
                          {"address": "zweit@example.de"}),
    "profile.add_phone": (lambda w, **t: profile.add_phone(
        w.backend, w.user(), t["number"], t["country"], t["label"], CALLER),
        {"number": "+49 561 123456", "country": "DE", "label": "Büro"}),
    "profile.update_profile": (lambda w, **t: profile.update_profile(w.backend, w.user(), t["data"], CALLER),
                               {"data": _person(phone="0561 123456")}),
    "profile.update_billing": (lambda w, **t: profile.update_billing(w.backend, w.user(), t["data"], CALLER), {
        "data": {"umbrella_organisation": "", "delivery_method": "email", "payment_method": "invoice",
                 "iban": "", "bic": ""}}),
    "sessions.reauthenticate": (lambda w, **t: sessions.reauthenticate(w.backend, w.user(), t["password"]),
                                {"password": "x"}),
}


def _variants(defaults: dict[str, Any], payload: str):
    """Every way to put ``payload`` into one text of the call: (path, texts)."""
    for name, value in defaults.items():
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str):
                    yield f"{name}.{key}", key, {**defaults, name: {**value, key: payload}}
        else:
            yield name, name, {**defaults, name: payload}


def _call(world: World, name: str, texts: dict[str, Any]) -> BaseException | None:
    fn = ENTRY_POINTS[name][0]
    try:
        fn(world, **texts)
    except DomainError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - what the test counts
        return exc
    return None


def test_every_free_text_entry_point_is_covered():
    """A decorated entry point missing here would escape the fuzz. A service split into a
    package (services/contracts/, services/merge/) counts with every module inside it, each
    entry point under the package's name (``contracts.link_contract``)."""
    import importlib
    import inspect
    import pkgutil

    import services

    def parts(module):
        yield module
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), f"{module.__name__}."):
            yield importlib.import_module(info.name)

    guarded = set()
    for module in (accounts, agents, backoffice, backoffice_actions, contracts, customer_login,
                   customer_numbers, feedback, merge, organisations, products, profile, sessions):
        for part in parts(module):
            for fname, fn in inspect.getmembers(part, inspect.isfunction):
                if fn.__module__ == part.__name__ and hasattr(fn, "__wrapped__"):
                    guarded.add(f"{module.__name__.removeprefix('services.')}.{fname}")
    assert guarded | STRIPPED == set(ENTRY_POINTS), (guarded | STRIPPED) ^ set(ENTRY_POINTS)
    assert services  # the package the modules came from


def test_fixed_payloads_give_only_domain_errors(world):
    calls, unexpected, not_refused = 0, [], []
    for name, (_, defaults) in ENTRY_POINTS.items():
        for payload in PAYLOADS:
            for path, key, texts in _variants(defaults, payload):
                if "." in path and payload not in CORE:
                    continue  # a form's fields get the core set (time bound)
                calls += 1
                error = _call(world, name, texts)
                if error is not None and not isinstance(error, DomainError):
                    unexpected.append(f"{name}({path}={payload[:12]!r}): {type(error).__name__}")
                elif payload in REFUSED and name not in STRIPPED and not (
                        isinstance(error, ValidationFailed) and error.fields):
                    not_refused.append(f"{name}({path}={payload!r}): {error!r}")
    print(f"{calls} calls, {len(unexpected)} unexpected")
    assert calls > 1000
    assert unexpected == []
    assert not_refused == []


def test_nul_and_surrogates_name_their_field(world):
    with pytest.raises(ValidationFailed) as info:
        customer_login.login_any(world.backend, "lfuchs\x00", "pw\ud800", CALLER)
    assert info.value.fields == {"identifier": normalize.MSG_CONTROL,
                                 "password": normalize.MSG_CONTROL}
    with pytest.raises(ValidationFailed) as info:
        merge.compare(world.backend, world.user("amueller"), "200001", "2000\x0002", "x", CALLER)
    assert set(info.value.fields) == {"other_number"}
    # The desk search strips them and searches for the rest.
    hits = backoffice.search(world.backend, world.user("fuzzdesk"), "Mül\x00ler\ud800")
    assert {h.number for h in hits if h.kind == "customer"} >= {"200001", "200002"}
    # Multi-line fields keep their line breaks; NUL is still refused.
    normalize.refuse_unsafe_text([("note", "Zeile 1\nZeile 2\tEnde")])
    with pytest.raises(ValidationFailed):
        normalize.refuse_unsafe_text([("note", "a\x00b")])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(name=st.sampled_from(sorted(ENTRY_POINTS)), text=st.text(max_size=80), pick=st.integers(0, 50))
def test_hypothesis_text_gives_only_domain_errors(world_once, name, text, pick):
    defaults = ENTRY_POINTS[name][1]
    variants = list(_variants(defaults, text))
    path, _, texts = variants[pick % len(variants)]
    error = _call(world_once, name, texts)
    assert error is None or isinstance(error, DomainError), f"{name}({path}={text!r}): {error!r}"


@pytest.fixture
def world_once(world):
    return world


def test_dates_in_payloads_do_not_leak(world):
    """A wrong birth date type stays a domain error (the link form parses dates itself)."""
    error = _call(world, "contracts.link_contract", {"data": {
        "number": "431177", "birth_date": dt.date(2000, 10, 5).isoformat() + "\x00",
        "last_name": "Musterjobber", "postal_code": "34117"}})
    assert isinstance(error, ValidationFailed)
