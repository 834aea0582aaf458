"""API keys, held in memory as SHA-256 digests and compared in constant time.

Hashing first gives every comparison the same length, and every stored key is compared on every
attempt, so neither the position of a mismatch nor which tenant's key was close leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyVerifier:
    def __init__(self, keys_by_tenant: Mapping[str, str]) -> None:
        self._digests = [(tenant, _digest(key)) for tenant, key in keys_by_tenant.items()]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def tenant_for(self, presented: str) -> str | None:
        """The tenant whose key this is, or ``None``."""
        digest = _digest(presented)
        found = None
        for tenant, stored in self._digests:
            if hmac.compare_digest(digest, stored):
                found = tenant
        return found
