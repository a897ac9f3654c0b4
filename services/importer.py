"""Back-office import: JSON Lines of customers, codes, contracts, products, keys, memberships.

Every line is validated first (pydantic, a discriminated union on ``kind``); references must
exist in the same file or in the database. Only when *every* line is valid is anything
written, in one transaction, with dialect upserts in chunks (``db.bulk``), so that a re-import
updates records instead of duplicating them. Secrets never reach the database in plain text:
activation codes and licence keys as keyed digests, customer passwords as argon2id hashes.

Public API::

    import_file(backend, path) -> ImportReport
    import_lines(backend, lines) -> ImportReport
    validate_lines(backend, lines) -> ImportPlan      # no writes
    write_plan(backend, session, plan) -> dict[str, int]
"""

from __future__ import annotations

import datetime as dt
import gc
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from schwifty import IBAN
from schwifty import registry as iban_registry
from sqlalchemy.orm import Session

from db import bulk
from db.models import Account, ActivationCode, Contract, Customer, LicenceKey, Membership, Product
from services import audit, normalize
from services.crypto import normalize_code, normalize_key

KINDS = ("customer", "product", "activation_code", "contract", "licence_key", "membership")
_PLURAL = {
    "customer": ("customer", "customers"),
    "product": ("product", "products"),
    "activation_code": ("activation code", "activation codes"),
    "contract": ("contract", "contracts"),
    "licence_key": ("licence key", "licence keys"),
    "membership": ("membership", "memberships"),
}

# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    # counts per kind as attributes: report.customers, report.licence_keys, …
    @property
    def customers(self) -> int:
        return self.counts["customer"]

    @property
    def products(self) -> int:
        return self.counts["product"]

    @property
    def activation_codes(self) -> int:
        return self.counts["activation_code"]

    @property
    def contracts(self) -> int:
        return self.counts["contract"]

    @property
    def licence_keys(self) -> int:
        return self.counts["licence_key"]

    @property
    def memberships(self) -> int:
        return self.counts["membership"]

    def summary(self) -> str:
        if self.errors:
            return f"{len(self.errors)} line(s) rejected; nothing was imported."
        parts = []
        for kind in KINDS:
            n = self.counts[kind]
            parts.append(f"{n} {_PLURAL[kind][0] if n == 1 else _PLURAL[kind][1]}")
        return ", ".join(parts) + " imported"


# --------------------------------------------------------------------------- line models


def _s(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=max_length, min_length=min_length)
    ]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


IsoDate = Annotated[dt.date, Strict()]
_CFG = ConfigDict(extra="forbid", frozen=False)
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_BIC_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_POSTAL = {"DE": re.compile(r"^\d{5}$"), "AT": re.compile(r"^\d{4}$"), "CH": re.compile(r"^\d{4}$")}
_STATUS = {
    "active": "active", "aktiv": "active",
    "expired": "expired", "abgelaufen": "expired", "inactive": "expired", "inaktiv": "expired",
    "cancelled": "cancelled", "canceled": "cancelled", "gekündigt": "cancelled",
    "gekuendigt": "cancelled", "storniert": "cancelled",
    "suspended": "suspended", "ruhend": "suspended", "pending": "pending",
}


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    from babel import Locale

    return frozenset(c for c in Locale("en").territories if len(c) == 2 and c.isalpha())


# A plain ASCII dot-atom local part: for these, email_validator's verdict depends only on the
# domain, which is checked once per domain (a million customers share a few thousand domains).
_SIMPLE_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


@lru_cache(maxsize=65536)
def _email_domain(domain: str) -> str:
    return validate_email("x@" + domain, check_deliverability=False).domain


def _check_email(value: str | None) -> str | None:
    if not value:
        return None
    try:
        local, sep, domain = value.rpartition("@")
        if sep and len(local) <= 64 and len(value) <= 254 and _SIMPLE_LOCAL.match(local):
            return f"{local}@{_email_domain(domain)}"
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address ({exc})") from None


_SPACES = re.compile(r"\s+")
_IBAN_CHARS = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]+")
_IBAN_DIGITS = str.maketrans({c: str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})


@lru_cache(maxsize=512)
def _iban_spec(country: str) -> Any:
    try:
        return iban_registry.get_iban_spec(country)
    except Exception:  # noqa: BLE001 - unknown country: let IBAN() explain
        return None


def _iban_ok(compact: str) -> bool:
    """schwifty's own structural checks (characters, length, BBAN format from its registry,
    ISO 7064 mod 97-10 check digits) without building an IBAN object; ``False`` sends the
    value through ``schwifty.IBAN`` for the verdict and its message."""
    if not _IBAN_CHARS.fullmatch(compact):
        return False
    country = compact[:2]
    spec = _iban_spec(country)
    bban = compact[4:]
    if spec is None or spec.iban_length != len(compact) or not spec.regex.match(bban):
        return False
    if bban.isdigit():  # most BBANs (DE, AT, …): no letters to spell out
        number = int(bban + _IBAN_COUNTRY_DIGITS[country])
    else:
        number = int((bban + country + "00").translate(_IBAN_DIGITS))
    return f"{98 - number % 97:02d}" == compact[2:4]


_IBAN_COUNTRY_DIGITS = {
    a + b: (a + b + "00").translate(_IBAN_DIGITS)
    for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
}


class CustomerLine(BaseModel):
    model_config = _CFG
    kind: Literal["customer"]
    number: _s(32, 1)
    type: _s(32) = "private"
    company: _s(200) | None = None
    salutation: _s(40) | None = None
    first_name: _s(120) | None = None
    last_name: _s(120) | None = None
    birth_date: IsoDate | None = None
    street: _s(200) | None = None
    postal_code: _s(16) | None = None
    city: _s(120) | None = None
    country: _s(2) | None = "DE"
    phone: _s(40) | None = None
    mobile: _s(40) | None = None
    email: _s(254) | None = None
    iban: _s(50) | None = None
    bic: _s(15) | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    # One Python validator for the whole line (a million lines: every call counts).
    @model_validator(mode="after")
    def _whole(self) -> CustomerLine:
        ctype = self.type.lower() or "private"
        if not _TYPE_RE.match(ctype):
            raise ValueError("type: a customer type is one word such as private, teacher or "
                             "company")
        fields = self.__dict__  # plain dict writes: BaseModel.__setattr__ is slow
        fields["type"] = ctype
        country = (self.country or "DE").upper()
        if country not in _countries():
            raise ValueError(f"country: {country!r} is not a 2-letter ISO country code")
        fields["country"] = country
        if not (self.last_name or self.company):
            raise ValueError("a customer needs a last_name or a company")
        if self.postal_code and country in _POSTAL and not _POSTAL[country].match(
            self.postal_code
        ):
            raise ValueError(f"postal_code: {self.postal_code!r} is not valid for {country}")
        if self.email:
            try:
                fields["email"] = _check_email(self.email)
            except ValueError as exc:
                raise ValueError(f"email: {exc}") from None
        else:
            fields["email"] = None
        if self.iban:
            fields["iban"] = _check_iban(self.iban)
        else:
            fields["iban"] = None
        if self.bic:
            bic = self.bic.replace(" ", "").upper()
            if not _BIC_RE.match(bic):
                raise ValueError("bic: invalid BIC")
            fields["bic"] = bic
        else:
            fields["bic"] = None
        return self


def _check_iban(value: str) -> str:
    compact = value if value.isalnum() and value.isupper() else _SPACES.sub("", value).upper()
    if _iban_ok(compact):
        return compact
    try:
        return str(IBAN(value))
    except ValueError as exc:
        raise ValueError(f"iban: invalid IBAN ({exc})") from None


class ActivationCodeLine(BaseModel):
    model_config = _CFG
    kind: Literal["activation_code"]
    customer_number: _s(32, 1)
    code: _s(64, 4)
    valid_until: IsoDate | None = None


class ContractLine(BaseModel):
    model_config = _CFG
    kind: Literal["contract"]
    number: _s(40, 1)
    customer_number: _s(32, 1)
    valid_from: IsoDate | None = None
    valid_to: IsoDate | None = None
    status: _s(20) = "active"
    product: _s(200) | None = None
    abo_number: _s(40) | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        status = _STATUS.get(value.lower() or "active")
        if status is None:
            raise ValueError(
                f"unknown status {value!r} (active, expired, cancelled, suspended, pending)"
            )
        return status

    @model_validator(mode="after")
    def _dates(self) -> ContractLine:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to lies before valid_from")
        return self


class ProductLine(BaseModel):
    model_config = _CFG
    kind: Literal["product"]
    sku: _s(64, 1)
    name: _s(200, 1)
    type: Annotated[Literal["licence", "download", "journal"], BeforeValidator(_lower)]
    access_url: _s(500) | None = None


class LicenceKeyLine(BaseModel):
    model_config = _CFG
    kind: Literal["licence_key"]
    key: _s(64, 4)
    sku: _s(64, 1)
    valid_until: IsoDate | None = None


class MembershipLine(BaseModel):
    model_config = _CFG
    kind: Literal["membership"]
    customer_number: _s(32, 1)
    email: _s(254, 1)
    role: Annotated[
        Literal["super_admin", "admin", "member"], BeforeValidator(_lower)
    ] = "member"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _check_email(value) or value


Line = Annotated[
    CustomerLine | ActivationCodeLine | ContractLine | ProductLine | LicenceKeyLine
    | MembershipLine,
    Field(discriminator="kind"),
]
LINE = TypeAdapter(Line)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        typ = err["type"]
        loc = [str(p) for p in err["loc"]]
        if typ == "json_invalid":
            return f"malformed JSON ({err['msg'].removeprefix('Invalid JSON: ')})"
        if typ == "union_tag_not_found":
            return "missing field 'kind'"
        if typ == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", "?")
            return f"unknown kind {tag!r} (expected one of {', '.join(KINDS)})"
        if typ == "model_attributes_type" or typ == "model_type":
            return "a line must be one JSON object"
        if loc and loc[0] in KINDS:
            loc = loc[1:]
        msg = err["msg"].removeprefix("Value error, ")
        if typ == "missing":
            parts.append(f"missing field {'.'.join(loc)!r}")
        elif typ == "extra_forbidden":
            parts.append(f"unknown field {'.'.join(loc)!r}")
        elif typ.startswith("date"):
            parts.append(f"{'.'.join(loc)}: not an ISO date (YYYY-MM-DD)")
        elif loc:
            parts.append(f"{'.'.join(loc)}: {msg}")
        else:
            parts.append(msg)
    return "; ".join(parts)


# --------------------------------------------------------------------------- plan


@dataclass
class ImportPlan:
    """The validated rows of one file, ready to be written (or the errors why not)."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # number -> plain (hashed on write)
    products: list[dict[str, Any]] = field(default_factory=list)
    codes: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    memberships: list[dict[str, Any]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "customer": len(self.customers), "product": len(self.products),
            "activation_code": len(self.codes), "contract": len(self.contracts),
            "licence_key": len(self.keys), "membership": len(self.memberships),
        }


def _first(seen: dict[Any, int], key: Any, line: int, what: str, errors: list[LineError]) -> bool:
    """Record ``key`` as seen on ``line``; a second occurrence is an error."""
    first = seen.setdefault(key, line)
    if first != line:
        errors.append(LineError(line, f"{what} appears twice in the file (first on line {first})"))
        return False
    return True


def validate_lines(backend: Any, lines: Iterable[str | bytes]) -> ImportPlan:
    """Validate every line (``str`` or UTF-8 ``bytes``) and check every reference; nothing is
    written. Line numbers count every line, empty ones included."""
    plan = ImportPlan()
    seen_customers: dict[str, int] = {}
    seen_products: dict[str, int] = {}
    seen_contracts: dict[str, int] = {}
    seen_codes: dict[tuple[str, str], int] = {}
    seen_keys: dict[str, int] = {}
    seen_members: dict[tuple[str, str], int] = {}
    # references to check once the whole file is read: (line, value)
    ref_customers: list[tuple[int, str]] = []
    ref_products: list[tuple[int, str]] = []
    # The plan holds millions of acyclic dicts: cyclic GC passes over them would only cost.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        lineno = _read(lines, plan, backend.digester.digest, seen_customers, seen_products,
                       seen_contracts, seen_codes, seen_keys, seen_members, ref_customers,
                       ref_products)
    finally:
        if gc_enabled:
            gc.enable()
    plan.lines = lineno
    _check_references(backend, plan, seen_customers, seen_products, ref_customers, ref_products)
    plan.errors.sort(key=lambda e: e.line)
    return plan


def _read(lines: Iterable[str | bytes], plan: ImportPlan, digest: Any,
          seen_customers: dict[str, int], seen_products: dict[str, int],
          seen_contracts: dict[str, int], seen_codes: dict[tuple[str, str], int],
          seen_keys: dict[str, int], seen_members: dict[tuple[str, str], int],
          ref_customers: list[tuple[int, str]], ref_products: list[tuple[int, str]]) -> int:
    """Validate line by line into ``plan``; returns the number of lines read."""
    errors = plan.errors
    number_of = normalize.customer_number
    fold = lru_cache(maxsize=65536)(normalize.fold_name)
    validate = LINE.validate_json
    lineno = 0
    for lineno, raw in enumerate(lines, 1):  # noqa: B007 - lineno used after the loop
        if not raw or raw.isspace():
            continue
        try:
            rec = validate(raw)
        except ValidationError as exc:
            errors.append(LineError(lineno, _reason(exc)))
            continue
        kind = rec.kind
        if kind == "customer":
            row = rec.__dict__  # the validated fields themselves: no copy per line
            del row["kind"]
            raw_number = row["number"]
            # ASCII letters and digits are already canonical apart from the case
            number = (raw_number.upper() if raw_number.isascii() and raw_number.isalnum()
                      else number_of(raw_number))
            first = seen_customers.setdefault(number, lineno)
            if first != lineno or not number:
                errors.append(LineError(lineno, f"customer {number} appears twice in the file "
                                        f"(first on line {first})" if number
                                        else "number: must not be empty"))
                continue
            row["number"] = number
            password = row.pop("password")
            if password:
                plan.passwords[number] = password
            if "" in row.values():  # empty text means "no value"
                for name, value in row.items():
                    if value == "":
                        row[name] = None
            company = row["company"]
            row["search_name"] = fold(company if row["type"] == "company" and company
                                      else row["last_name"] or company) or None
            plan.customers.append(row)
        elif kind == "product":
            sku = rec.sku
            if not _first(seen_products, sku, lineno, f"product {sku}", errors):
                continue
            plan.products.append({"sku": sku, "name": rec.name, "kind": rec.type,
                                  "access_url": rec.access_url or None})
        elif kind == "activation_code":
            number = number_of(rec.customer_number)
            code = normalize_code(rec.code)
            if len(code) < 4:
                errors.append(LineError(lineno, "code: too short"))
                continue
            code_digest = digest("activation", code)
            if not _first(seen_codes, (number, code_digest), lineno,
                          f"this activation code for customer {number}", errors):
                continue
            ref_customers.append((lineno, number))
            plan.codes.append({"_line": lineno, "_number": number, "code_digest": code_digest,
                               "valid_until": rec.valid_until})
        elif kind == "contract":
            number = number_of(rec.number)
            if not _first(seen_contracts, number, lineno, f"contract {number}", errors):
                continue
            customer = number_of(rec.customer_number)
            ref_customers.append((lineno, customer))
            plan.contracts.append({
                "_line": lineno, "_number": customer, "number": number,
                "abo_number": number_of(rec.abo_number) if rec.abo_number else None,
                "product": rec.product or None, "valid_from": rec.valid_from,
                "valid_to": rec.valid_to, "status": rec.status,
            })
        elif kind == "licence_key":
            key = normalize_key(rec.key)
            if len(key) < 4:
                errors.append(LineError(lineno, "key: too short"))
                continue
            key_digest = digest("licence", key)
            if not _first(seen_keys, key_digest, lineno, "this licence key", errors):
                continue
            ref_products.append((lineno, rec.sku))
            plan.keys.append({"_line": lineno, "_sku": rec.sku, "key_digest": key_digest,
                              "valid_until": rec.valid_until})
        else:  # membership
            number = number_of(rec.customer_number)
            key = normalize.email_key(rec.email)
            if not _first(seen_members, (number, key), lineno,
                          f"membership of {rec.email} in {number}", errors):
                continue
            ref_customers.append((lineno, number))
            plan.memberships.append({"_line": lineno, "_number": number, "email_key": key,
                                     "role": rec.role})
    return lineno


def _check_references(
    backend: Any,
    plan: ImportPlan,
    customers: dict[str, int],
    products: dict[str, int],
    ref_customers: list[tuple[int, str]],
    ref_products: list[tuple[int, str]],
) -> None:
    missing_c = {n for _, n in ref_customers if n not in customers}
    missing_p = {s for _, s in ref_products if s not in products}
    if missing_c or missing_p:
        with backend.engine.connect() as conn:
            if missing_c:
                missing_c -= bulk.existing(conn, Customer.__table__, "number", missing_c)
            if missing_p:
                missing_p -= bulk.existing(conn, Product.__table__, "sku", missing_p)
    for line, number in ref_customers:
        if number in missing_c:
            plan.errors.append(LineError(line, f"unknown customer number {number}"))
    for line, sku in ref_products:
        if sku in missing_p:
            plan.errors.append(LineError(line, f"unknown product sku {sku}"))


# --------------------------------------------------------------------------- write


def _strip(rows: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k[0] != "_"} | extra for row in rows]


def write_plan(backend: Any, session: Session, plan: ImportPlan) -> dict[str, int]:
    """Write a valid plan in the caller's transaction; returns the counts per kind."""
    if plan.errors:
        raise ValueError("an import plan with errors is never written")
    conn = session.connection()
    now = backend.now()
    customer_t = Customer.__table__
    if plan.customers:
        # NFKC like portal passwords (services.accounts.prepare_password)
        hashed = {n: backend.hasher.hash(unicodedata.normalize("NFKC", p))
                  for n, p in plan.passwords.items()}
        rows = plan.customers
        constants: dict[str, Any] = {"created_at": now, "updated_at": now}
        if hashed:
            for row in rows:
                row["password_hash"] = hashed.get(row["number"])
        else:
            constants["password_hash"] = None
        update = [c for c in rows[0] if c not in ("number", "password_hash")] + ["updated_at"]
        bulk.upsert(conn, customer_t, rows, ["number"], update, keep_when_null=["password_hash"],
                    constants=constants)
    if plan.products:
        bulk.upsert(conn, Product.__table__, plan.products, ["sku"],
                    ["name", "kind", "access_url"])
    wanted = {r["_number"] for r in plan.codes} | {r["_number"] for r in plan.contracts}
    wanted |= {r["_number"] for r in plan.memberships}
    ids = bulk.id_map(conn, customer_t, "number", wanted) if wanted else {}
    if plan.codes:
        rows = [{"customer_id": ids[r["_number"]], "code_digest": r["code_digest"],
                 "valid_until": r["valid_until"], "created_at": now} for r in plan.codes]
        bulk.upsert(conn, ActivationCode.__table__, rows, ["customer_id", "code_digest"],
                    ["valid_until"])
    if plan.contracts:
        rows = [{k: v for k, v in r.items() if k[0] != "_"} | {"customer_id": ids[r["_number"]]}
                for r in plan.contracts]
        bulk.upsert(conn, Contract.__table__, rows, ["number"],
                    ["customer_id", "abo_number", "product", "valid_from", "valid_to", "status"])
    if plan.keys:
        skus = bulk.id_map(conn, Product.__table__, "sku", {r["_sku"] for r in plan.keys})
        rows = [{"key_digest": r["key_digest"], "product_id": skus[r["_sku"]],
                 "valid_until": r["valid_until"]} for r in plan.keys]
        # redeemed_by / redeemed_at / customer_id are never touched: no un-redeeming
        bulk.upsert(conn, LicenceKey.__table__, rows, ["key_digest"],
                    ["product_id", "valid_until"])
    if plan.memberships:
        accounts = bulk.id_map(conn, Account.__table__, "email_key",
                               {r["email_key"] for r in plan.memberships})
        rows = []
        for r in plan.memberships:
            account = accounts.get(r["email_key"])
            rows.append({"customer_id": ids[r["_number"]], "email_key": r["email_key"],
                         "role": r["role"], "account_id": account,
                         "state": "active" if account else "approved", "created_at": now})
        # a re-import changes the role only; state and account belong to the portal
        bulk.upsert(conn, Membership.__table__, rows, ["customer_id", "email_key"], ["role"])
    return plan.counts()


def import_lines(
    backend: Any, lines: Iterable[str | bytes], *, source: str | None = None
) -> ImportReport:
    """Validate all lines; when all are valid write them in one transaction."""
    gc_enabled = gc.isenabled()
    gc.disable()  # millions of acyclic rows: cyclic GC passes over them would only cost
    try:
        plan = validate_lines(backend, lines)
        report = ImportReport(errors=list(plan.errors), lines=plan.lines)
        if plan.errors:
            return report
        with backend.transaction() as session:
            report.counts = write_plan(backend, session, plan)
            audit.record(session, "import", now=backend.now(), counts=dict(report.counts),
                         lines=plan.lines, source=source)
        return report
    finally:
        if gc_enabled:
            gc.enable()


def import_file(backend: Any, path: str | Path) -> ImportReport:
    """Import a JSON Lines file (UTF-8; a byte order mark is ignored, CRLF is fine).

    Lines are handed to the validator as bytes, so a line that is not UTF-8 is reported
    with its number like any other malformed line.
    """
    path = Path(path)
    with path.open("rb") as handle:
        return import_lines(backend, _without_bom(handle), source=path.name)


def _without_bom(handle: Iterable[bytes]) -> Iterable[bytes]:
    first = True
    for raw in handle:
        if first:
            first = False
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        yield raw


__all__ = [
    "KINDS", "ImportPlan", "ImportReport", "LineError", "import_file", "import_lines",
    "validate_lines", "write_plan",
]
