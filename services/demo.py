"""The demo data set: everything a newcomer needs to try each flow of the five guides.

``load_demo(backend)`` writes the back-office records through the importer's own code path
(``import_lines`` in the caller's transaction) and adds the portal side (demo accounts, one
customer number already linked, the organisation's super admin) in the same transaction.
Running it again updates the records; nothing is duplicated. ``SHOW_TEXT`` is what ``kiosk demo --show``
prints: accounts and passwords, customer numbers and codes, contracts, keys, merge pairs.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update

from db.models import Account, Consent, Customer, CustomerLink, LicenceKey, Membership, Product
from services import audit
from services.crypto import CODE_ALPHABET, normalize_key
from services.importer import KINDS, import_lines
from services.normalize import email_key, username_key

# --------------------------------------------------------------------------- the data

PRODUCTS = [
    {"kind": "product", "sku": "WM-MATHE-7", "name": "Mathematik 7 – Schulbuch digital",
     "type": "licence", "access_url": "https://demo.example.org/lizenzen/mathe-7"},
    {"kind": "product", "sku": "WM-ARBEITSBLAETTER", "name": "Arbeitsblätter Deutsch 5/6",
     "type": "download", "access_url": "https://demo.example.org/downloads/deutsch-5-6.zip"},
    {"kind": "product", "sku": "WM-PRAXIS-GS", "name": "Praxis Grundschule (Fachzeitschrift)",
     "type": "journal", "access_url": "https://demo.example.org/zeitschriften/praxis-gs"},
    {"kind": "product", "sku": "WM-ATLAS-2019", "name": "Weltatlas 2019 (nicht mehr erhältlich)",
     "type": "licence", "access_url": "https://demo.example.org/lizenzen/atlas-2019"},
]
WITHDRAWN_SKU = "WM-ATLAS-2019"
INSTRUCTIONS = {
    "WM-MATHE-7": "Öffnen Sie das Schulbuch mit „Zur Nutzung“ im Browser.",
    "WM-ARBEITSBLAETTER": "Laden Sie das ZIP-Archiv herunter und entpacken Sie es.",
    "WM-PRAXIS-GS": "Die aktuelle Ausgabe und das Archiv finden Sie unter „Zur Nutzung“.",
    "WM-ATLAS-2019": "Dieses Produkt wird nicht mehr angeboten.",
}

# (key, sku, valid_until, hint)
LICENCE_KEYS = [
    ("MATH-E7KA-CDF4-9PQR", "WM-MATHE-7", "2030-07-31", "Lizenz / licence → Meine Lizenzen"),
    ("DRUC-K3AN-W4TE-X9YP", "WM-ARBEITSBLAETTER", "2030-07-31",
     "Download → Meine Downloads"),
    ("PRAX-7FAE-ACHT-3MNQ", "WM-PRAXIS-GS", "2030-07-31",
     "Fachzeitschrift / journal → Fachzeitschriften"),
    ("A7TE-9KEY-4CDM-7PRW", "WM-MATHE-7", "2024-07-31", "abgelaufen / expired key"),
    ("KART-E4MA-P9CD-FGHJ", "WM-ATLAS-2019", "2030-07-31",
     "Produkt zurückgezogen / withdrawn product"),
    ("MATH-4TEA-CHER-7KEY", "WM-MATHE-7", "2030-07-31",
     "bereits eingelöst von lukas.fuchs / already redeemed"),
]
REDEEMED_KEY = "MATH-4TEA-CHER-7KEY"


def _customer(number: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "customer", "number": number, "country": "DE", **fields}


CUSTOMERS = [
    # Guide 001 (KVG job ticket): contract 431177, born 05.10.2000, 34117 Kassel
    _customer("100001", type="private", salutation="Herr", first_name="Max",
              last_name="Musterjobber", birth_date="2000-10-05", street="Artilleriestr. 39",
              postal_code="34117", city="Kassel", email="max.musterjobber@example.de"),
    # Guide 000 (AKM, Austria): Freischaltcode + Kundennummer
    _customer("100002", type="private", salutation="Herr", first_name="Jürgen",
              last_name="Größ", birth_date="1971-03-09", street="Annenstraße 12",
              postal_code="8020", city="Graz", country="AT", phone="+43 316 123456",
              email="juergen.gross@example.at"),
    _customer("100003", type="teacher", salutation="Frau", first_name="Sabine",
              last_name="Österreicher", birth_date="1983-06-21", street="Ringstraße 5",
              postal_code="1010", city="Wien", country="AT", email="s.oesterreicher@example.at"),
    _customer("100004", type="teacher", salutation="Frau", first_name="Claudia",
              last_name="Weiß", birth_date="1979-11-30", street="Domstraße 7",
              postal_code="50667", city="Köln", email="claudia.weiss@example.de"),
    # already linked to the demo account lukas.fuchs ("number already taken")
    _customer("100005", type="private", salutation="Herr", first_name="Lukas",
              last_name="Fuchs", birth_date="1990-02-14", street="Landstraße 21",
              postal_code="4020", city="Linz", country="AT", email="lukas.fuchs@example.at"),
    _customer("100006", type="organiser", salutation="Frau", first_name="Elisabeth",
              last_name="Huber", street="Hauptplatz 3", postal_code="4020", city="Linz",
              country="AT", email="veranstaltungen.huber@example.at"),
    # Guide 003 (CGM): an organisation with a super admin
    _customer("300001", type="company", company="Praxis Dr. Köhler GmbH",
              street="Sendlinger Straße 10", postal_code="80331", city="München",
              phone="+49 89 1234567", email="praxis@koehler.example.de"),
    # Guide 004: a merge pair (same name, different street/phone/IBAN) ...
    _customer("200001", type="private", salutation="Frau", first_name="Anna",
              last_name="Müller", birth_date="1985-04-12", street="Königsallee 1",
              postal_code="40212", city="Düsseldorf", phone="+49 211 111111",
              email="anna.mueller@example.de", iban="DE89 3704 0044 0532 0130 00",
              bic="COBADEFFXXX", password="Gartenzwerg-Elbe-Kiesel-42"),  # noqa: S106
    _customer("200002", type="private", salutation="Frau", first_name="Anna",
              last_name="Müller", birth_date="1985-04-12", street="Schadowstraße 44",
              postal_code="40212", city="Düsseldorf", phone="+49 211 222222",
              mobile="+49 171 2223334", email="anna.mueller@example.de",
              iban="DE02 1001 0010 0006 8201 01", password="Leuchtturm-Sylt-Moewe-17"),  # noqa: S106
    # ... and a pair whose last names differ (blocked: signed form needed)
    _customer("200003", type="private", salutation="Herr", first_name="Thomas",
              last_name="Bäcker", birth_date="1968-08-08", street="Marktplatz 2",
              postal_code="69117", city="Heidelberg", password="Brezelkorb-Neckar-Turm-9"),  # noqa: S106
    _customer("200004", type="private", salutation="Herr", first_name="Thomas",
              last_name="Becker", birth_date="1968-08-08", street="Marktplatz 2",
              postal_code="69117", city="Heidelberg", password="Schlossberg-Fluss-Nebel-31"),  # noqa: S106
]

# (customer number, Freischaltcode, valid until, hint)
ACTIVATION_CODES = [
    ("100001", "KVG4-MAXJ-7QRT", "2030-12-31", "gültig / valid"),
    ("100002", "AKM7-GRAC-K4QC", "2030-12-31", "gültig / valid (AT)"),
    ("100003", "WEAN-3KXP-9DFM", "2024-12-31", "abgelaufen / expired"),
    ("100004", "KXTC-9FAM-4NRD", "2030-12-31", "gültig / valid (teacher)"),
    ("100005", "FUXC-4HNT-7KAR", "2030-12-31",
     "gültig, aber schon vergeben / valid but number already taken"),
    ("100006", "HUAE-7RTY-3PQC", "2030-12-31", "gültig / valid (organiser)"),
    ("200001", "ANNA-4MEK-9CXR", "2030-12-31", "gültig / valid"),
    ("200002", "ANNA-7TWF-3HQD", "2030-12-31",
     "gültig; anna.mueller hat schon eine private Nummer / already one number of this type"),
]

CONTRACTS = [
    {"kind": "contract", "number": "431177", "customer_number": "100001",
     "valid_from": "2023-05-01", "valid_to": None, "status": "active",
     "product": "Jobticket Kassel", "abo_number": None},
    {"kind": "contract", "number": "431178", "customer_number": "100001",
     "valid_from": "2021-01-01", "valid_to": "2022-12-31", "status": "expired",
     "product": "Monatskarte Kassel", "abo_number": "AB-2021-0815"},
    {"kind": "contract", "number": "520011", "customer_number": "100002",
     "valid_from": "2024-01-01", "valid_to": "2025-06-30", "status": "cancelled",
     "product": "Veranstaltungslizenz Graz", "abo_number": None},
    {"kind": "contract", "number": "610042", "customer_number": "100004",
     "valid_from": "2025-08-01", "valid_to": "2027-07-31", "status": "active",
     "product": "Jobticket Köln", "abo_number": "CK-7781-4420"},
    # on the second number of the merge pair: moves to 200001 when the two are merged
    {"kind": "contract", "number": "431190", "customer_number": "200002",
     "valid_from": "2024-03-01", "valid_to": None, "status": "active",
     "product": "Deutschlandticket Düsseldorf", "abo_number": "DT-2024-0312"},
]

MEMBERSHIPS = [
    {"kind": "membership", "customer_number": "300001", "email": "dr.koehler@example.de",
     "role": "super_admin"},
]

# Portal accounts: (username, e-mail, password, first name, last name, customer type,
# customer number linked, postal code, city, country)
ACCOUNTS = [
    ("lfuchs", "lukas.fuchs@example.de", "Bergwiese-Donau-Abend-2026", "Lukas", "Fuchs",
     "private", "100005", "4020", "Linz", "AT"),
    ("amueller", "anna.mueller@example.de", "Sonnenblume-Kassel-2026", "Anna", "Müller",
     "private", "200001", "40212", "Düsseldorf", "DE"),
    ("kkoehler", "dr.koehler@example.de", "Praxisschild-Isar-Wolke-2026", "Katrin", "Köhler",
     "company", None, "80331", "München", "DE"),
    ("eneu", "erika.neu@example.de", "Regenbogen-Kiel-Wasser-2026", "Erika", "Neumann",
     "private", None, "24103", "Kiel", "DE"),
]
SUPER_ADMIN_EMAIL = "dr.koehler@example.de"
ORGANISATION = "300001"
# An employee's self-registration waiting for the super admin's decision (guide 003).
APPLICANT = ("jonas.wagner@example.de", "Jonas", "Wagner")


def demo_lines() -> list[str]:
    """The back-office part as import lines (the same format as ``kiosk import``)."""
    records: list[dict[str, Any]] = [*CUSTOMERS, *PRODUCTS]
    records += [{"kind": "activation_code", "customer_number": n, "code": c, "valid_until": v}
                for n, c, v, _ in ACTIVATION_CODES]
    records += CONTRACTS
    records += [{"kind": "licence_key", "key": k, "sku": s, "valid_until": v}
                for k, s, v, _ in LICENCE_KEYS]
    records += MEMBERSHIPS
    return [json.dumps(r, ensure_ascii=False) for r in records]


def _check_alphabet() -> None:
    for key, *_ in LICENCE_KEYS:
        parts = key.split("-")
        assert len(parts) == 4 and all(len(p) == 4 for p in parts), key
        assert all(ch in CODE_ALPHABET for ch in normalize_key(key)), key
    for _, code, *_ in ACTIVATION_CODES:
        assert all(ch in CODE_ALPHABET for ch in code.replace("-", "")), code


_check_alphabet()

# --------------------------------------------------------------------------- loading


@dataclass
class DemoReport:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    accounts_created: int = 0
    accounts_updated: int = 0
    links: int = 0
    applicants: int = 0

    def summary(self) -> str:
        records = ", ".join(f"{n} {k.replace('_', ' ')}{'' if n == 1 else 's'}"
                            for k, n in self.counts.items())
        return (f"Demo data loaded: {records}; {self.accounts_created} demo account(s) created, "
                f"{self.accounts_updated} updated.")


def _upsert_account(db: Any, backend: Any, spec: tuple[Any, ...], now: dt.datetime,
                    report: DemoReport) -> Account:
    username, email, password, first, last, ctype, _, postal, city, country = spec
    account = db.scalar(select(Account).where(Account.email_key == email_key(email)))
    if account is None:
        account = db.scalar(select(Account).where(Account.username_key == username_key(username)))
    created = account is None
    if created:
        account = Account(created_at=now)
        db.add(account)
        report.accounts_created += 1
    else:
        report.accounts_updated += 1
    account.kind = "customer"
    account.username = username
    account.username_key = username_key(username)
    account.email = email
    account.email_key = email_key(email)
    account.password_hash = backend.hasher.hash(unicodedata.normalize("NFKC", password))
    account.customer_type = ctype
    account.first_name, account.last_name = first, last
    account.postal_code, account.city, account.country = postal, city, country
    account.language = "de"
    account.status = "active"
    account.failed_logins = 0
    account.locked_until = None
    account.verified_at = account.verified_at or now
    account.password_changed_at = now
    db.flush()
    if created:
        settings = backend.settings
        for kind, granted, version in (("terms", True, settings.terms_version),
                                       ("privacy", True, settings.privacy_version),
                                       ("marketing", False, settings.marketing_version)):
            db.add(Consent(account_id=account.id, kind=kind, granted=granted,
                           text_version=version, terminal_id="demo", created_at=now))
    return account


def _pending_applicant(db: Any, organisation_id: int, now: dt.datetime,
                       report: DemoReport) -> None:
    """One confirmed request to join the organisation, waiting for approval (once only).

    Whatever was done with it while trying the demo (approved, rejected - which removes the
    applicant's account but keeps the membership -, expired, completed) is left alone."""
    address, first, last = APPLICANT
    key = email_key(address)
    if db.scalar(select(Account.id).where(Account.email_key == key)) or db.scalar(
            select(Membership.id).where(Membership.customer_id == organisation_id,
                                        Membership.email_key == key)):
        return  # already there, or decided while trying the demo
    account = Account(kind="customer", email=address, email_key=email_key(address),
                      first_name=first, last_name=last, customer_type="company",
                      language="de", status="pending_approval", created_at=now,
                      verified_at=now)
    db.add(account)
    db.flush()
    db.add(Membership(customer_id=organisation_id, account_id=account.id,
                      email_key=key, role="member", state="pending_approval",
                      created_at=now))
    report.applicants += 1


def load_demo(backend: Any) -> DemoReport:
    """Load (or refresh) the demo data set in one transaction; safe to run again."""
    report = DemoReport()
    now = backend.now()
    with backend.transaction() as db:
        accounts = {spec[1]: _upsert_account(db, backend, spec, now, report) for spec in ACCOUNTS}
        imported = import_lines(backend, demo_lines(), session=db)
        if imported.errors:  # pragma: no cover - the demo data is checked by the tests
            raise RuntimeError("demo data invalid: " + "; ".join(map(str, imported.errors)))
        report.counts = imported.counts
        for sku, text in INSTRUCTIONS.items():
            db.execute(update(Product).where(Product.sku == sku).values(
                instructions=text, withdrawn=sku == WITHDRAWN_SKU))
        ids = dict(db.execute(select(Customer.number, Customer.id)).all())
        for spec in ACCOUNTS:
            number = spec[6]
            if number is None:
                continue
            account = accounts[spec[1]]
            existing = db.scalar(select(CustomerLink).where(or_(
                CustomerLink.customer_id == ids[number],
                (CustomerLink.account_id == account.id) & (CustomerLink.customer_type == spec[5]),
            )))
            if existing is None:  # never fight a link made while trying the demo
                db.add(CustomerLink(account_id=accounts[spec[1]].id, customer_id=ids[number],
                                    customer_type=spec[5], linked_at=now, linked_by="code"))
                report.links += 1
        admin = accounts[SUPER_ADMIN_EMAIL]
        db.execute(update(Membership).where(
            Membership.customer_id == ids[ORGANISATION],
            Membership.email_key == email_key(SUPER_ADMIN_EMAIL),
        ).values(account_id=admin.id, role="super_admin", state="active"))
        _pending_applicant(db, ids[ORGANISATION], now, report)
        key = db.scalar(select(LicenceKey).where(LicenceKey.key_digest == backend.digester.digest(
            "licence", normalize_key(REDEEMED_KEY))))
        if key is not None and key.redeemed_by_id is None:
            key.redeemed_by_id = accounts["lukas.fuchs@example.de"].id
            key.redeemed_at = now
            key.customer_id = ids["100005"]
        audit.record(db, "demo_loaded", now=now, counts=dict(report.counts),
                     accounts=len(ACCOUNTS))
    return report


# --------------------------------------------------------------------------- kiosk demo --show


def _date(iso: str | None) -> str:
    if not iso:
        return "unbefristet (open-ended)"
    return dt.date.fromisoformat(iso).strftime("%d.%m.%Y")


def _show_text() -> str:
    customers = {c["number"]: c for c in CUSTOMERS}

    def name(number: str) -> str:
        c = customers[number]
        return c.get("company") or f"{c.get('first_name', '')} {c['last_name']}".strip()

    out = ["Kundenkiosk – Demodaten (demo data)", "=" * 36, "",
           "Demo-Konten (portal accounts) – Anmeldung mit Benutzername oder E-Mail:"]
    for username, email, password, first, last, _ctype, number, *_ in ACCOUNTS:
        extra = f", Kundennummer {number} verknüpft (linked)" if number else ""
        if email == SUPER_ADMIN_EMAIL:
            extra = f", Super-Admin der Organisation {ORGANISATION}"
        out.append(f"  {username:9} {email:26} Passwort: {password}  ({first} {last}{extra})")
    out += ["", "Kundennummern + Freischaltcodes (link a customer number, guide 000):"]
    for number, code, valid, hint in ACTIVATION_CODES:
        c = customers[number]
        out.append(f"  {number}  {code}  gültig bis {_date(valid)}  {name(number)} "
                   f"[{c['type']}, {c['postal_code']} {c['city']}, {c['country']}] – {hint}")
    out += ["", "Verträge / Abos (link a contract, guide 001) – "
                "Vertragsnummer, Geburtsdatum, Nachname, PLZ:"]
    for k in CONTRACTS:
        c = customers[k["customer_number"]]
        born = _date(c["birth_date"]) if c.get("birth_date") else "-"
        abo = f", Abo-Nr. {k['abo_number']}" if k["abo_number"] else ""
        out.append(f"  {k['number']}  geb. {born}  {c['last_name']}  {c['postal_code']}  "
                   f"{_date(k['valid_from'])} – {_date(k['valid_to'])}  {k['status'].upper()}{abo}")
    out += ["", "Online-/Lizenzschlüssel (redeem a key, guide 002):"]
    products = {p["sku"]: p for p in PRODUCTS}
    for key, sku, valid, hint in LICENCE_KEYS:
        out.append(f"  {key}  {products[sku]['name']} (gültig bis {_date(valid)}) – {hint}")
    org = customers[ORGANISATION]
    out += ["", "Organisation (join your employer, guide 003):",
            f"  Kundennummer {ORGANISATION}, PLZ {org['postal_code']} – {org['company']}, "
            f"Super-Admin {SUPER_ADMIN_EMAIL}",
            "  Selbstregistrierung mit einer neuen E-Mail-Adresse + 300001 + 80331; "
            "der Super-Admin bestätigt (approves).",
            f"  Wartet schon auf Freigabe (pending): {APPLICANT[1]} {APPLICANT[2]} "
            f"<{APPLICANT[0]}> – als kkoehler unter \"Meine Organisation\" entscheiden.",
            "", "Kundennummern zusammenführen (merge, guide 004) – Kundennummer + Kundenpasswort:"]
    for a, b, note in (("200001", "200002", "gleicher Name, andere Straße/Telefon/IBAN – "
                                            "merge possible (amueller holds 200001)"),
                       ("200003", "200004", "anderer Nachname (Bäcker/Becker) – blocked, "
                                            "signed form needed")):
        out.append(f"  {a} ({name(a)}, Passwort {customers[a]['password']})  +  "
                   f"{b} ({name(b)}, Passwort {customers[b]['password']}): {note}")
    out += ["", "Bereits vergeben (number already taken): 100005 gehört lfuchs; "
                "mit Freischaltcode FUXC-4HNT-7KAR aus einem anderen Konto versuchen → "
                "Anfrage an den Service senden (send a request).",
            "", "Service-Desk (agents): kiosk agent create NAME --role supervisor "
                "--password-stdin",
            "", "Alle Daten sind erfunden (fictitious). Neu laden: kiosk demo"]
    return "\n".join(out)


SHOW_TEXT: str = _show_text()

__all__ = ["ACCOUNTS", "DemoReport", "SHOW_TEXT", "demo_lines", "load_demo"]
