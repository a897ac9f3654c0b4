"""Services of "Meine Produkte" on SQLite and PostgreSQL: redeeming keys (each outcome, the
limits with the clock, the race of two terminals) and the lists per product kind."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from db.models import Account, AuditEvent, LicenceKey, Product
from services import products, sessions
from services.caller import Caller
from services.crypto import normalize_key
from services.errors import Throttled

KEYS = {
    "licence": "MATH-E7KA-CDF4-9PQR",
    "download": "DRUC-K3AN-W4TE-X9YP",
    "journal": "PRAX-7FAE-ACHT-3MNQ",
    "expired": "A7TE-9KEY-4CDM-7PRW",
    "withdrawn": "KART-E4MA-P9CD-FGHJ",
}
CALLER = Caller(terminal_id="kiosk-1")


def make_account(backend, name: str) -> tuple[int, str]:
    with backend.transaction() as db:
        account = Account(username=name, username_key=name, email=f"{name}@example.org",
                          email_key=f"{name}@example.org", status="active",
                          first_name=name.title(), last_name="Test")
        db.add(account)
        db.flush()
        account_id = account.id
    return account_id, sessions.open_session(backend, account_id, terminal_id="kiosk-1")


def load_products(backend, extra_keys: int = 0) -> None:
    def product(sku, name, kind, withdrawn=False):
        return Product(sku=sku, name=name, kind=kind, withdrawn=withdrawn,
                       access_url=f"https://example.org/{sku.lower()}",
                       instructions=f"Anleitung für {name}")

    with backend.transaction() as db:
        items = {
            "licence": product("WM-MATHE-7", "Mathematik 7", "licence"),
            "download": product("WM-AB", "Arbeitsblätter [b]Deutsch[/b]", "download"),
            "journal": product("WM-PRAXIS", "Praxis Grundschule", "journal"),
            "withdrawn": product("WM-ATLAS", "Weltatlas 2019", "licence", withdrawn=True),
        }
        db.add_all(items.values())
        db.flush()
        digest = backend.digester.digest
        for name, key in KEYS.items():
            target = items.get(name, items["licence"])
            valid = dt.date(2024, 7, 31) if name == "expired" else dt.date(2030, 7, 31)
            db.add(LicenceKey(key_digest=digest("licence", normalize_key(key)),
                              product_id=target.id, valid_until=valid))


@pytest.fixture
def shop(backend):
    load_products(backend)
    return backend


def test_format_is_checked_before_the_database() -> None:
    assert products.check_format(" math e7ka-cdf4 9pqr ") == "MATHE7KACDF49PQR"
    for raw, msg in (("", products.MSG_REQUIRED), ("MATH-E7KA-CDF4", products.MSG_LENGTH),
                     ("MATH-E7KA-CDF4-9PQRX", products.MSG_LENGTH),
                     ("MATH-E7KA-CDF4-9PQ!", products.MSG_ALPHABET),
                     ("MÄTH-E7KA-CDF4-9PQR", products.MSG_ALPHABET)):
        with pytest.raises(products.KeyFormatError) as err:
            products.check_format(raw)
        assert err.value.fields == {"key": msg}
    assert products.group_key("mathe7kacdf49pqr") == "MATH-E7KA-CDF4-9PQR"
    assert products.group_key("math-e7") == "MATH-E7"
    assert products.group_key("MATHE7KACDF49PQRXYZ") == "MATH-E7KA-CDF4-9PQR"


@pytest.mark.parametrize("kind", ["licence", "download", "journal"])
def test_redeem_each_kind_and_list_it(shop, clock, kind) -> None:
    account_id, token = make_account(shop, "erika")
    result = products.redeem_key(shop, token, KEYS[kind].lower().replace("-", " "), CALLER)
    assert result.kind == kind and result.activated_at == clock.now
    assert result.valid_until == dt.date(2030, 7, 31)
    lists = products.list_products(shop, token)
    owned = lists.of(kind)
    assert [p.sku for p in owned] == [result.sku]
    assert owned[0].access_url and owned[0].instructions
    assert owned[0].activated_at == clock.now
    assert sum(len(lists.of(k)) for k in products.KINDS) == 1
    with shop.transaction() as db:
        row = db.scalar(select(LicenceKey).where(LicenceKey.redeemed_by_id == account_id))
        assert row.redeemed_at == clock.now
        events = list(db.scalars(select(AuditEvent).where(
            AuditEvent.event == "licence_redeemed")))
    assert len(events) == 1 and events[0].details["product_sku"] == result.sku
    assert normalize_key(KEYS[kind]) not in str(events[0].details)


def test_errors_and_messages(shop) -> None:
    _, token = make_account(shop, "erika")
    _, other = make_account(shop, "otto")
    products.redeem_key(shop, other, KEYS["licence"], CALLER)

    def refused(key, token=token):
        with pytest.raises(Exception) as err:
            products.redeem_key(shop, token, key, CALLER)
        return err.value

    unknown = refused("ZZZZ-ZZZZ-ZZZZ-ZZZZ")
    taken = refused(KEYS["licence"])
    assert isinstance(unknown, products.KeyRejected) and unknown.code == "unknown"
    assert str(unknown) == products.MSG_UNKNOWN
    # issue 19.13: a key redeemed by someone else is said so (the entry is right), counted
    # like every refusal; expired and withdrawn keys already name their reason
    assert taken.code == "taken" and str(taken) == products.MSG_TAKEN
    expired = refused(KEYS["expired"])
    assert expired.code == "expired" and expired.params == {"date": "2024-07-31"}
    withdrawn = refused(KEYS["withdrawn"])
    assert withdrawn.code == "withdrawn"
    mine = refused(KEYS["licence"], other)
    assert isinstance(mine, products.AlreadyRedeemed)
    assert mine.params == {"section": "My licences"}
    fmt = refused("MATH-E7")
    assert isinstance(fmt, products.KeyFormatError)
    with shop.transaction() as db:
        details = [e.details for e in db.scalars(select(AuditEvent))]
    for key in KEYS.values():
        assert normalize_key(key) not in str(details) and key not in str(details)


def test_session_expired(shop) -> None:
    with pytest.raises(sessions.SessionExpired):
        products.redeem_key(shop, "no-such-token", KEYS["licence"], CALLER)
    with pytest.raises(sessions.SessionExpired):
        products.list_products(shop, None)


def test_ten_failed_keys_per_account_per_hour(shop, clock) -> None:
    erika, token = make_account(shop, "erika")
    for i in range(10):
        with pytest.raises(products.KeyRejected):
            products.redeem_key(shop, token, f"ZZZZ-ZZZZ-ZZZZ-{i:04d}", CALLER)
    with pytest.raises(Throttled) as err:  # even a valid key waits now
        products.redeem_key(shop, token, KEYS["journal"], CALLER)
    assert err.value.message == products.MSG_WAIT_ACCOUNT
    assert err.value.params == {"minutes": 60}
    clock.advance(minutes=30)
    token = sessions.open_session(shop, erika, terminal_id="kiosk-1")  # the old one idled out
    with pytest.raises(Throttled) as err:
        products.redeem_key(shop, token, KEYS["journal"], CALLER)
    assert err.value.params == {"minutes": 30}
    # another account at another terminal is not affected
    _, other = make_account(shop, "otto")
    products.redeem_key(shop, other, KEYS["download"], Caller(terminal_id="kiosk-2"))
    clock.advance(minutes=31)
    token = sessions.open_session(shop, erika, terminal_id="kiosk-1")
    assert products.redeem_key(shop, token, KEYS["journal"], CALLER).kind == "journal"


def test_terminal_limit(shop, clock) -> None:
    for n in range(3):
        _, token = make_account(shop, f"user{n}")
        for i in range(10):
            with pytest.raises(products.KeyRejected):
                products.redeem_key(shop, token, f"ZZZZ-ZZZZ-ZZZ{n}-{i:04d}", CALLER)
    _, fresh = make_account(shop, "fresh")
    with pytest.raises(Throttled) as err:
        products.redeem_key(shop, fresh, KEYS["licence"], CALLER)
    assert err.value.message == products.MSG_WAIT_TERMINAL
    assert err.value.params == {"minutes": 15}
    # the same account at another terminal goes on
    assert products.redeem_key(shop, fresh, KEYS["licence"],
                               Caller(terminal_id="kiosk-2")).kind == "licence"


def test_race_two_terminals_one_winner(shop) -> None:
    tokens = [make_account(shop, f"racer{i}") for i in range(4)]
    barrier = threading.Barrier(len(tokens))
    outcomes: list[object] = []

    def run(token: str, n: int) -> None:
        barrier.wait()
        try:
            outcomes.append(products.redeem_key(shop, token, KEYS["licence"],
                                                Caller(terminal_id=f"kiosk-{n}")))
        except Exception as exc:  # noqa: BLE001 - collected and checked below
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(t, n)) for n, (_, t) in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if isinstance(o, products.RedeemResult)]
    losses = [o for o in outcomes if isinstance(o, products.KeyRejected)]
    assert len(wins) == 1 and len(losses) == len(tokens) - 1, outcomes
    with shop.transaction() as db:
        events = list(db.scalars(select(AuditEvent).where(
            AuditEvent.event == "licence_redeemed")))
    assert len(events) == 1


def test_same_account_twice_at_once(shop) -> None:
    _, token = make_account(shop, "erika")
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(products.redeem_key(shop, token, KEYS["download"], CALLER))
        except Exception as exc:  # noqa: BLE001
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = sorted(type(o).__name__ for o in outcomes)
    assert kinds == ["AlreadyRedeemed", "RedeemResult"], outcomes


def test_licence_follows_the_linked_customer_number(shop) -> None:
    from db.models import Customer, CustomerLink

    account_id, token = make_account(shop, "erika")
    with shop.transaction() as db:
        customer = Customer(number="100009", type="private", last_name="Test")
        db.add(customer)
        db.flush()
        customer_id = customer.id
        db.add(CustomerLink(account_id=account_id, customer_id=customer_id,
                            customer_type="private"))
    products.redeem_key(shop, token, KEYS["journal"], CALLER)
    with shop.transaction() as db:
        row = db.scalar(select(LicenceKey).where(LicenceKey.redeemed_by_id == account_id))
        assert row.customer_id == customer_id
        row.redeemed_by_id = None  # e.g. after a merge: still listed through the number
    assert [p.kind for p in products.list_products(shop, token).journals] == ["journal"]


def test_demo_keys_behave_as_documented(sqlite_backend) -> None:
    from services import accounts
    from services.demo import load_demo

    load_demo(sqlite_backend)
    lukas = accounts.login(sqlite_backend, "lfuchs", "Bergwiese-Donau-Abend-2026", CALLER).token
    erika = accounts.login(sqlite_backend, "eneu", "Regenbogen-Kiel-Wasser-2026", CALLER).token
    assert [p.sku for p in products.list_products(sqlite_backend, lukas).licences] == [
        "WM-MATHE-7"]
    with pytest.raises(products.AlreadyRedeemed):
        products.redeem_key(sqlite_backend, lukas, "MATH-4TEA-CHER-7KEY", CALLER)
    with pytest.raises(products.KeyRejected) as taken:
        products.redeem_key(sqlite_backend, erika, "MATH-4TEA-CHER-7KEY", CALLER)
    assert taken.value.code == "taken"
    for key, code in (("A7TE-9KEY-4CDM-7PRW", "expired"), ("KART-E4MA-P9CD-FGHJ", "withdrawn")):
        with pytest.raises(products.KeyRejected) as err:
            products.redeem_key(sqlite_backend, erika, key, CALLER)
        assert err.value.code == code
    kinds = [products.redeem_key(sqlite_backend, erika, key, CALLER).kind
             for key in ("MATH-E7KA-CDF4-9PQR", "DRUC-K3AN-W4TE-X9YP", "PRAX-7FAE-ACHT-3MNQ")]
    assert kinds == ["licence", "download", "journal"]
