"""Stored API keys on the SQL ledger's database: the ``ApiKeyStore`` port (``bgremover.ledger.base``)
in the ``api_keys`` table.

The request path never calls a store: ``StoredKeySnapshot`` copies the active keys into memory from a
background thread, and the CLI (``bg-remover keys``) creates, lists and revokes them. Only the SHA-256
digest of a key's secret is stored (``bgremover.tenancy.api_keys`` says why that is enough).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from bgremover.ledger.base import ApiKeyRecord, utcnow
from bgremover.ledger.engine import create_ledger_engine, transaction
from bgremover.ledger.migrate import upgrade
from bgremover.ledger.schema import api_keys, aware_utc


class SqlApiKeyStore:
    """``ApiKeyStore`` in the ledger database's ``api_keys`` table (revision 0002)."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = utcnow, owns_engine: bool = True
    ) -> None:
        self.engine = engine
        self._now = clock
        self._owns_engine = owns_engine  # False: the engine is the ledger's, which closes it

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = False) -> SqlApiKeyStore:
        """A store on ``BGR_DATABASE_URL``; ``migrate`` for the CLI, which may run before any service."""
        store = cls(create_ledger_engine(url))
        if migrate:
            upgrade(store.engine)
        return store

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def add(self, record: ApiKeyRecord) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=record.key_id,
                    tenant_id=record.tenant_id,
                    digest=record.digest,
                    label=record.label,
                    created_at=record.created_at,
                    revoked_at=record.revoked_at,
                )
            )

    def list_keys(self, tenant_id: str | None = None) -> list[ApiKeyRecord]:
        query = select(api_keys).order_by(api_keys.c.tenant_id, api_keys.c.created_at)
        if tenant_id is not None:
            query = query.where(api_keys.c.tenant_id == tenant_id)
        with transaction(self.engine, write=False) as conn:
            return [self._record(row) for row in conn.execute(query).mappings()]

    def active_keys(self) -> list[ApiKeyRecord]:
        query = select(api_keys).where(api_keys.c.revoked_at.is_(None))
        with transaction(self.engine, write=False) as conn:
            return [self._record(row) for row in conn.execute(query).mappings()]

    def revoke(self, key_id: str) -> ApiKeyRecord | None:
        """Marks the key revoked (once: a second revocation keeps the first time); ``None`` if unknown."""
        mine = api_keys.c.key_id == key_id
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                update(api_keys).where(mine, api_keys.c.revoked_at.is_(None)).values(revoked_at=self._now())
            )
            row = conn.execute(select(api_keys).where(mine)).mappings().first()
        return None if row is None else self._record(row)

    @staticmethod
    def _record(row: object) -> ApiKeyRecord:
        values = dict(row)  # type: ignore[call-overload]
        return ApiKeyRecord(
            key_id=values["key_id"],
            tenant_id=values["tenant_id"],
            digest=values["digest"],
            label=values["label"],
            created_at=aware_utc(values["created_at"]),  # type: ignore[arg-type]
            revoked_at=aware_utc(values["revoked_at"]),
        )
