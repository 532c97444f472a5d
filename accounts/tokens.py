"""The MCP token format: pure functions, no Django.

A token is ``thr_`` + 43 base62 characters carrying 256 bits from `secrets` + a 6-character base62
CRC32 checksum of that body. The checksum lets the gate reject typos and random probes before any
database query; it adds no secrecy. Tokens are stored as a SHA-256 hex digest under a unique index.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

PREFIX = "thr_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 43  # ceil(256 / log2(62))
_CHECK_LEN = 6
TOKEN_LENGTH = len(PREFIX) + _BODY_LEN + _CHECK_LEN


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LEN)


def generate() -> str:
    """A fresh token with 256 bits of entropy."""
    body = _base62(secrets.randbits(256), _BODY_LEN)
    return PREFIX + body + _checksum(body)


def is_well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum all right. Cheap; no database."""
    if len(token) != TOKEN_LENGTH or not token.startswith(PREFIX):
        return False
    body, check = token[len(PREFIX) : -_CHECK_LEN], token[-_CHECK_LEN:]
    if any(c not in _ALPHABET for c in body):
        return False
    return hmac.compare_digest(_checksum(body), check)


def digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def hint(token: str) -> str:
    """A short, non-secret reminder shown in the dashboard ("thr_…Xy12")."""
    return f"{PREFIX}…{token[-4:]}"
