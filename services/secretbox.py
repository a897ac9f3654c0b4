"""Authenticated encryption of small secrets at rest (the TOTP secrets of ``second_factor``).

AES-256-GCM from a maintained implementation, never a cipher of our own:
``cryptography``'s ``AESGCM`` when it is installed, else the same primitive from the OpenSSL
``libcrypto`` that Python's own ``ssl`` module is linked with (called through ``ctypes``).
Both write the same format — ``v1`` + 12-byte random nonce + ciphertext + 16-byte tag,
base64url — so switching between them needs no migration. The key is derived from the
installation secret (``KIOSK_SECRET_KEY`` / ``secret.key``) with HMAC-SHA256 and a purpose
label by the caller; the associated data binds a ciphertext to its row (e.g. the account id), so a
ciphertext copied to another row does not decrypt.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import secrets
from functools import cache
from typing import Any

PREFIX = b"v1"
NONCE = 12
TAG = 16

_SET_IVLEN, _GET_TAG, _SET_TAG = 0x9, 0x10, 0x11


class DecryptionFailed(ValueError):
    """The ciphertext was altered, belongs to another row, or the key is not the one used."""


@cache
def _libcrypto() -> Any:
    """OpenSSL's libcrypto: the one ``_ssl`` is linked with, else the system's."""
    import _ssl

    candidates: list[str | None] = [_ssl.__file__, ctypes.util.find_library("crypto")]
    for name in candidates:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.EVP_aes_256_gcm  # noqa: B018 - the symbol must be reachable
        except (OSError, AttributeError):
            continue
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        lib.EVP_aes_256_gcm.restype = ctypes.c_void_p
        for fn in ("EVP_EncryptInit_ex", "EVP_DecryptInit_ex"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_char_p, ctypes.c_char_p]
        for fn in ("EVP_EncryptUpdate", "EVP_DecryptUpdate"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_int), ctypes.c_char_p,
                                         ctypes.c_int]
        for fn in ("EVP_EncryptFinal_ex", "EVP_DecryptFinal_ex"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_int)]
        lib.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                            ctypes.c_void_p]
        return lib
    raise RuntimeError("AES-GCM is not available: neither cryptography nor libcrypto found")


def _openssl(encrypt: bool, key: bytes, nonce: bytes, data: bytes, aad: bytes,
             tag: bytes = b"") -> tuple[bytes, bytes]:
    lib = _libcrypto()
    ctx = lib.EVP_CIPHER_CTX_new()
    if not ctx:
        raise MemoryError("EVP_CIPHER_CTX_new")
    try:
        init = lib.EVP_EncryptInit_ex if encrypt else lib.EVP_DecryptInit_ex
        update = lib.EVP_EncryptUpdate if encrypt else lib.EVP_DecryptUpdate
        final = lib.EVP_EncryptFinal_ex if encrypt else lib.EVP_DecryptFinal_ex
        ok = init(ctx, lib.EVP_aes_256_gcm(), None, None, None) == 1
        ok = ok and lib.EVP_CIPHER_CTX_ctrl(ctx, _SET_IVLEN, NONCE, None) == 1
        ok = ok and init(ctx, None, None, key, nonce) == 1
        length = ctypes.c_int(0)
        if aad:
            ok = ok and update(ctx, None, ctypes.byref(length), aad, len(aad)) == 1
        out = ctypes.create_string_buffer(len(data) + 16)
        ok = ok and update(ctx, out, ctypes.byref(length), data, len(data)) == 1
        written = length.value
        if not encrypt:
            tag_buffer = ctypes.create_string_buffer(tag, TAG)
            ok = ok and lib.EVP_CIPHER_CTX_ctrl(ctx, _SET_TAG, TAG, tag_buffer) == 1
        if not ok:
            raise RuntimeError("AES-GCM could not be set up")
        tail = ctypes.c_int(0)
        address = ctypes.addressof(out) + written
        if final(ctx, ctypes.c_void_p(address), ctypes.byref(tail)) != 1:
            raise DecryptionFailed("authentication failed")
        result = out.raw[:written + tail.value]
        if encrypt:
            tag_out = ctypes.create_string_buffer(TAG)
            if lib.EVP_CIPHER_CTX_ctrl(ctx, _GET_TAG, TAG, tag_out) != 1:
                raise RuntimeError("AES-GCM tag")
            return result, tag_out.raw
        return result, b""
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        return None
    return AESGCM


def seal_raw(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: ciphertext + tag."""
    implementation = _aesgcm()
    if implementation is not None:
        return bytes(implementation(key).encrypt(nonce, plaintext, aad or None))
    ciphertext, tag = _openssl(True, key, nonce, plaintext, aad)
    return ciphertext + tag


def open_raw(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < TAG:
        raise DecryptionFailed("too short")
    implementation = _aesgcm()
    if implementation is not None:
        from cryptography.exceptions import InvalidTag

        try:
            return bytes(implementation(key).decrypt(nonce, sealed, aad or None))
        except InvalidTag as exc:
            raise DecryptionFailed("authentication failed") from exc
    plaintext, _ = _openssl(False, key, nonce, sealed[:-TAG], aad, sealed[-TAG:])
    return plaintext


class SecretBox:
    """Seal and open short secrets with one 256-bit key (derived by the caller from the
    installation secret, e.g. with the installation's ``Digester``)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._key = key

    def seal(self, plaintext: str, aad: str) -> str:
        nonce = secrets.token_bytes(NONCE)
        sealed = seal_raw(self._key, nonce, plaintext.encode(), aad.encode())
        return base64.urlsafe_b64encode(PREFIX + nonce + sealed).decode("ascii")

    def open(self, token: str, aad: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise DecryptionFailed("not a sealed value") from exc
        if not raw.startswith(PREFIX) or len(raw) < len(PREFIX) + NONCE + TAG:
            raise DecryptionFailed("not a sealed value")
        body = raw[len(PREFIX):]
        return open_raw(self._key, body[:NONCE], body[NONCE:], aad.encode()).decode()


__all__ = ["DecryptionFailed", "SecretBox", "open_raw", "seal_raw"]
