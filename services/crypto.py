"""Secrets, keyed digests, one-time codes and the argon2id password hasher."""

from __future__ import annotations

import hmac
import os
import re
import secrets
import unicodedata
from functools import cached_property
from pathlib import Path

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# An alphabet without look-alikes (no 0/O, 1/I/L, 5/S, 2/Z, 8/B).
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
_SEPARATORS = re.compile(r"[\s\-_./]+")


class SecretKeyError(RuntimeError):
    pass


def load_or_create_secret_key(path: Path, env_value: str | None = None) -> bytes:
    """The installation's secret for keyed digests: from the environment, else a 0600 file.

    The file is created on first run with 32 random bytes; all terminals of one installation
    must share it (a shared path or ``KIOSK_SECRET_KEY``). It never goes into the database.
    """
    if env_value:
        try:
            key = bytes.fromhex(env_value.strip())
        except ValueError as exc:
            raise SecretKeyError("KIOSK_SECRET_KEY must be hexadecimal") from exc
        if len(key) < 32:
            raise SecretKeyError("KIOSK_SECRET_KEY must hold at least 32 bytes (64 hex digits)")
        return key
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    os.chmod(path, 0o600)
    return key


class Digester:
    """HMAC-SHA256 keyed digests of codes and keys (never stored in plain text)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, purpose: str, value: str) -> str:
        # the one-shot C path of hmac: same digest as hmac.new(...).hexdigest(), faster in bulk
        return hmac.digest(self._key, purpose.encode() + b"\x00" + value.encode(),
                           "sha256").hex()

    @staticmethod
    def same(a: str, b: str) -> bool:
        return hmac.compare_digest(a.encode(), b.encode())


def new_code(length: int = 10, alphabet: str = CODE_ALPHABET) -> str:
    """A one-time code from the CSPRNG."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_token() -> str:
    """128 bits or more of randomness, URL-safe (session ids, link tokens)."""
    return secrets.token_urlsafe(24)


def normalize_code(raw: str) -> str:
    """Canonical form of a typed code: NFKC, upper case, separators gone, look-alikes folded."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    text = _SEPARATORS.sub("", text)
    return text.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def normalize_key(raw: str) -> str:
    """Canonical form of a licence key: NFKC, upper case, without spaces and dashes."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    return _SEPARATORS.sub("", text)


class PasswordHasher:
    """argon2id with a configurable profile; verification always does the same work."""

    def __init__(self, memory_kib: int = 19 * 1024, time_cost: int = 2, parallelism: int = 1):
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self.calls = 0  # number of argon2 computations (tests compare paths by it)

    @cached_property
    def _dummy(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        self.calls += 1
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches; an absent hash costs the same as a wrong one."""
        target = stored or self._dummy
        self.calls += 1
        try:
            ok = self._hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
