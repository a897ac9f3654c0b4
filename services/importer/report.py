"""What an import did: counts per kind, the first errors with their line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.importer.lines import KINDS

MAX_ERRORS = 100  # errors kept (and shown) per import; all of them are counted

_PLURAL = {
    "customer": ("customer", "customers"),
    "product": ("product", "products"),
    "activation_code": ("activation code", "activation codes"),
    "contract": ("contract", "contracts"),
    "licence_key": ("licence key", "licence keys"),
    "membership": ("membership", "memberships"),
}


def plural(kind: str, n: int) -> str:
    return f"{n:,} {_PLURAL[kind][0] if n == 1 else _PLURAL[kind][1]}"


@dataclass(frozen=True, order=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class KindChanges:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    # valid lines per kind (written, or in a dry run: would be written)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    changes: dict[str, KindChanges] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)  # the first MAX_ERRORS, by line
    error_count: int = 0  # all rejected lines
    lines: int = 0
    dry_run: bool = False
    passwords_hashed: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error_count

    def add_errors(self, errors: list[LineError], total: int) -> None:
        self.errors = sorted(self.errors + errors)[:MAX_ERRORS]
        self.error_count += total

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
        if self.error_count:
            return f"{self.error_count:,} line(s) rejected; nothing was imported."
        parts = ", ".join(plural(kind, self.counts[kind]) for kind in KINDS)
        if self.dry_run:
            return f"dry run: {parts} valid; nothing was written."
        return parts + " imported"

    def details(self) -> list[str]:
        """One line per kind in the file: inserted / updated / unchanged."""
        return [f"{_PLURAL[kind][1]}: {c.inserted:,} inserted, {c.updated:,} updated, "
                f"{c.unchanged:,} unchanged" for kind, c in self.changes.items()]
