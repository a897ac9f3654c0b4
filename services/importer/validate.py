"""Lines to staging rows: the per-line work of an import, in blocks of lines, on every core.

``Validator.block(first, raws)`` validates a block of raw lines (``first`` is the number of
the first one) and returns the rows to stage per kind, the refused lines and the passwords
to hash: a pure function of the lines and the installation's digest key, so that blocks can
be validated in any process (the key reaches a worker through its pipe, never its command
line or environment).

A file of more than ``INLINE_BLOCKS`` blocks is validated by a pool of worker processes
(``pool``), one per core, while the main process reads the file and stages the rows of the
blocks that are done, in the file's order. At most ``2 × workers`` blocks are in flight:
memory stays flat however long the file. Small files (the demo, the tests, a typical daily
delta) never start a process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from db.staging import ORDER
from services import normalize
from services.crypto import Digester, normalize_code, normalize_key
from services.importer.lines import parse
from services.importer.pool import new_pool, workers
from services.importer.report import MAX_ERRORS, LineError

BLOCK = 2048  # lines per block
INLINE_BLOCKS = 16  # blocks validated in the main process before a pool is started

# identifier fields and the length their column holds once normalised (NFKC may lengthen)
_LIMITS = {"customer_number": 32, "number": 40, "abo_number": 40}


@dataclass
class Block:
    """What one block of lines gives: rows per kind (``line`` first), refused lines."""

    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {kind: [] for kind in ORDER})
    errors: list[LineError] = field(default_factory=list)  # at most MAX_ERRORS
    error_count: int = 0
    passwords: list[tuple[str, str]] = field(default_factory=list)  # (number, password)
    last: int = 0  # number of the block's last line (blank lines count)


class Validator:
    """Validation and digests of import lines (see the module's docstring)."""

    def __init__(self, digester: Digester, iso_dates: bool) -> None:
        self.digest = digester.digest
        self.iso = iso_dates
        self.fold = lru_cache(maxsize=65536)(normalize.fold_name)

    def block(self, first: int, raws: list[bytes | str]) -> Block:  # noqa: C901, PLR0912, PLR0915 - one loop per line on purpose: it runs ten million times
        out = Block()
        rows = out.rows
        customers, products, codes = rows["customer"], rows["product"], rows["activation_code"]
        contracts, keys, members = rows["contract"], rows["licence_key"], rows["membership"]
        errors, passwords = out.errors, out.passwords
        digest, fold, iso = self.digest, self.fold, self.iso
        number_of, email_key = _number_of, normalize.email_key

        def date(value: Any) -> Any:
            return value.isoformat() if iso and value is not None else value

        def fail(line: int, reason: str) -> None:
            out.error_count += 1
            if len(errors) < MAX_ERRORS:
                errors.append(LineError(line, reason))

        lineno = first - 1
        for lineno, raw in enumerate(raws, first):  # noqa: B007 - lineno used after the loop
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "surrogatepass")
            raw = raw.rstrip(b"\r\n")
            if not raw or raw.isspace():
                continue
            rec, reason = parse(raw)
            if reason is not None:
                fail(lineno, reason)
                continue
            kind = rec.kind
            if kind == "customer":
                d = rec.__dict__
                number = number_of(d["number"])
                if not number or len(number) > 32:
                    fail(lineno, "number: must not be empty" if not number else
                         "number: at most 32 characters (after normalisation)")
                    continue
                company = d["company"] or None
                last_name = d["last_name"] or None
                ctype = d["type"]
                if d["password"]:
                    passwords.append((number, d["password"]))
                born = d["birth_date"]
                customers.append((
                    lineno, number, ctype, company, d["salutation"] or None,
                    d["first_name"] or None, last_name,
                    born.isoformat() if iso and born is not None else born,
                    d["street"] or None, d["postal_code"] or None, d["city"] or None,
                    d["country"], d["phone"] or None, d["mobile"] or None, d["email"], d["iban"],
                    d["bic"],
                    # a search key: folding may lengthen a name (ß -> ss), the column holds 200
                    fold(company if ctype == "company" and company else last_name or company)[
                        :200] or None,
                ))
                continue
            if kind != "product" and (too_long := _too_long(rec)):
                fail(lineno, too_long)
                continue
            if kind == "activation_code":
                code = normalize_code(rec.code)
                if len(code) < 4:
                    fail(lineno, "code: too short")
                    continue
                codes.append((lineno, number_of(rec.customer_number),
                              digest("activation", code), date(rec.valid_until)))
            elif kind == "product":
                products.append((lineno, rec.sku, rec.name, rec.type, rec.access_url or None))
            elif kind == "contract":
                contracts.append((
                    lineno, number_of(rec.number), number_of(rec.customer_number),
                    number_of(rec.abo_number) if rec.abo_number else None, rec.product or None,
                    date(rec.valid_from), date(rec.valid_to), rec.status,
                ))
            elif kind == "licence_key":
                key = normalize_key(rec.key)
                if len(key) < 4:
                    fail(lineno, "key: too short")
                    continue
                keys.append((lineno, digest("licence", key), rec.sku, date(rec.valid_until)))
            else:  # membership
                members.append((lineno, number_of(rec.customer_number), email_key(rec.email),
                                rec.role))
        out.last = lineno
        return out


def _number_of(value: str) -> str:
    # ASCII letters and digits are already canonical apart from the case
    return value.upper() if value.isascii() and value.isalnum() else normalize.customer_number(
        value)


def _too_long(rec: Any) -> str | None:
    for name, limit in _LIMITS.items():
        value = getattr(rec, name, None)
        if value and not value.isascii() and len(_number_of(value)) > limit:
            return f"{name}: at most {limit} characters (after normalisation)"
    return None


# --------------------------------------------------------------------------- the pool

_worker: Validator | None = None


def _init_worker(digester: Digester, iso_dates: bool) -> None:
    global _worker
    _worker = Validator(digester, iso_dates)


def _validate_block(first: int, raws: list[bytes | str]) -> Block:
    assert _worker is not None
    return _worker.block(first, raws)


def _blocks(lines: Iterable[bytes | str]) -> Iterator[tuple[int, list[bytes | str]]]:
    first, block = 1, []
    for raw in lines:
        block.append(raw)
        if len(block) == BLOCK:
            yield first, block
            first += BLOCK
            block = []
    if block:
        yield first, block


def validated(digester: Digester, iso_dates: bool, lines: Iterable[bytes | str],
              pool_workers: int | None = None) -> Iterator[Block]:
    """The blocks of ``lines``, validated, in the file's order (close the iterator to stop
    the pool early)."""
    inline = Validator(digester, iso_dates)
    blocks = _blocks(lines)
    for count, (first, raws) in enumerate(blocks, 1):
        yield inline.block(first, raws)
        if count == INLINE_BLOCKS:
            break
    else:
        return
    n = pool_workers or workers()
    pool = new_pool(n, _init_worker, digester, iso_dates)
    inflight: deque[Future[Block]] = deque()
    try:
        for first, raws in blocks:
            inflight.append(pool.submit(_validate_block, first, raws))
            while len(inflight) > 2 * n or (inflight and inflight[0].done()):
                yield inflight.popleft().result()
        while inflight:
            yield inflight.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
