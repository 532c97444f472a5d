"""Encryption at rest for third-party credentials and resendable MCP tokens.

AES-256-GCM (an AEAD cipher). Every ciphertext is bound to its owner through the associated data:
callers pass a `context` naming the purpose and the row it belongs to (e.g. "intervals-link:42"), so a
ciphertext copied onto another row fails authentication instead of decrypting.

Format: ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``. Several keys may be configured
(settings.ENCRYPTION_KEYS, first one encrypts); `needs_rotation` tells whether a value was written
with an older key, and the `reencrypt` management command rewrites such values.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_VERSION = "v1"


class DecryptionError(Exception):
    """The value is malformed, was written with an unknown key, or belongs to another owner."""


def _keys() -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = settings.ENCRYPTION_KEYS
    if not keys:
        raise DecryptionError("no encryption keys configured")
    return keys


def encrypt(plaintext: str, *, context: str) -> str:
    """Encrypt `plaintext` with the primary key, bound to `context`."""
    key_id, key = _keys()[0]
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), f"{_VERSION}|{key_id}|{context}".encode())
    return f"{_VERSION}.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def decrypt(token: str, *, context: str) -> str:
    """Return the plaintext; raise DecryptionError unless it was sealed for exactly this `context`."""
    try:
        version, key_id, body = token.split(".", 2)
    except ValueError:
        raise DecryptionError("malformed ciphertext") from None
    if version != _VERSION:
        raise DecryptionError("unknown ciphertext version")
    key = dict(_keys()).get(key_id)
    if key is None:
        raise DecryptionError("ciphertext written with an unknown key")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], f"{_VERSION}|{key_id}|{context}".encode())
    except (InvalidTag, ValueError):
        raise DecryptionError("ciphertext does not authenticate for this owner") from None
    return plaintext.decode()


def needs_rotation(token: str) -> bool:
    """True when `token` was not written with the current primary key."""
    parts = token.split(".", 2)
    return len(parts) != 3 or parts[1] != _keys()[0][0]
