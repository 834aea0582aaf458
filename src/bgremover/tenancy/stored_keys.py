"""The in-memory copy of the stored API keys that the request path reads.

``refresh`` (called from a background thread) replaces the whole mapping in one assignment, so a
request sees either the old or the new snapshot, never half of one, and no lock is needed. A failed
refresh raises and leaves the previous snapshot in place; the refresher logs it.
"""

from __future__ import annotations

import hmac

from bgremover.ledger.base import ApiKeyStore
from bgremover.tenancy.api_keys import digest, split_key

_NO_DIGEST = bytes(32)  # compared against for an unknown id, so unknown and wrong keys cost the same


class StoredKeySnapshot:
    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store
        self._by_id: dict[str, tuple[str, bytes]] = {}

    def refresh(self) -> None:
        """Reload the active (unrevoked) keys from the store."""
        self._by_id = {
            record.key_id: (record.tenant_id, bytes.fromhex(record.digest))
            for record in self._store.active_keys()
        }

    def tenant_for(self, presented: str) -> str | None:
        """The tenant of an active stored key, else ``None`` (also for keys not in the ``bgr_`` format)."""
        parts = split_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        tenant, stored = self._by_id.get(key_id, (None, _NO_DIGEST))
        matches = hmac.compare_digest(digest(secret), stored)
        return tenant if matches else None

    def close(self) -> None:
        self._store.close()
