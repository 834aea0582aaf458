"""API keys: the ``bgr_<key_id>_<secret>`` format, and keys held in memory as SHA-256 digests.

Why SHA-256 and not a slow password hash: the secret is 32 random bytes from ``secrets`` (256 bits),
so no dictionary or brute-force attack on a leaked digest is feasible; slow hashes (bcrypt, Argon2)
protect low-entropy human passwords, and would only make every request pay tens of milliseconds.

Digests are compared with ``hmac.compare_digest``: stored keys are found by their public id and one
digest compared; static keys (``BGR_API_KEYS``) are all compared on every attempt, so neither the
position of a mismatch nor which tenant's key was close leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

KEY_PREFIX = "bgr_"
_KEY_ID_BYTES = 8  # 16 hex characters: public, only needs to be unique
_SECRET_BYTES = 32


def digest(secret: str) -> bytes:
    """The SHA-256 digest of a key (or of a stored key's secret part), as compared."""
    return hashlib.sha256(secret.encode()).digest()


def digest_hex(secret: str) -> str:
    """The SHA-256 hex digest stored for a key's secret part."""
    return digest(secret).hex()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``plaintext`` is shown once to its owner and never stored."""

    key_id: str
    plaintext: str
    digest: str


def issue_key() -> IssuedKey:
    """A fresh random key. The id is hex (no ``_``), so the first ``_`` after it ends the id."""
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return IssuedKey(key_id, f"{KEY_PREFIX}{key_id}_{secret}", digest_hex(secret))


def split_key(presented: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a key in the ``bgr_`` format, else ``None``."""
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = presented[len(KEY_PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


class ApiKeyVerifier:
    """The static keys of ``BGR_API_KEYS`` (tenant -> key), hashed as soon as they are read."""

    def __init__(self, keys_by_tenant: Mapping[str, str]) -> None:
        self._digests = [(tenant, digest(key)) for tenant, key in keys_by_tenant.items()]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def tenant_for(self, presented: str) -> str | None:
        """The tenant whose key this is, or ``None``."""
        presented_digest = digest(presented)
        found = None
        for tenant, stored in self._digests:
            if hmac.compare_digest(presented_digest, stored):
                found = tenant
        return found
