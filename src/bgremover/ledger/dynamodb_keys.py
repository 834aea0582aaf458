"""Stored API keys on the DynamoDB ledger's table: the ``ApiKeyStore`` port, one item per key.

An item ``KEY#{key_id}`` holds the tenant, the SHA-256 digest of the secret (never the secret), a
label and the creation and revocation times. Every key is also on the ``by-tenant`` index under the
partition ``#keys`` (sort key ``{tenant}#{created}#{key_id}``), so listing them, all or one tenant's,
is a ``Query``, never a ``Scan``: keys are few, and the API reloads them in the background.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bgremover.ledger.base import ApiKeyRecord, utcnow
from bgremover.ledger.dynamodb_table import Table, Write, from_micros, micros, serialize

_KEYS = "#keys"  # "#" is never in a tenant id (bgremover.tenancy.ids): no tenant's jobs share it


def _key(key_id: str) -> dict[str, str]:
    return {"pk": f"KEY#{key_id}", "sk": "#KEY"}


class DynamoDbApiKeyStore:
    def __init__(self, table: Table, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = table
        self._now = clock

    def close(self) -> None:
        """The table's client is the ledger's: nothing of its own to close."""

    def add(self, record: ApiKeyRecord) -> None:
        created = micros(record.created_at)
        item = {
            **_key(record.key_id),
            "key_id": record.key_id,
            "tenant_id": record.tenant_id,
            "digest": record.digest,
            "label": record.label,
            "created_at": created,
            "revoked_at": None if record.revoked_at is None else micros(record.revoked_at),
            "tenant_pk": _KEYS,
            "tenant_sk": f"{record.tenant_id}#{created:020d}#{record.key_id}",
        }
        self._db.client.put_item(
            TableName=self._db.name, Item=serialize(item), ConditionExpression="attribute_not_exists(pk)"
        )

    def list_keys(self, tenant_id: str | None = None) -> list[ApiKeyRecord]:
        condition, values = "tenant_pk = :keys", {":keys": _KEYS}
        if tenant_id is not None:
            condition += " AND begins_with(tenant_sk, :tenant)"
            values[":tenant"] = f"{tenant_id}#"
        items = self._db.query(
            IndexName="by-tenant",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=serialize(values),
        )
        return [_record(item) for item in items]

    def active_keys(self) -> list[ApiKeyRecord]:
        return [record for record in self.list_keys() if record.revoked_at is None]

    def revoke(self, key_id: str) -> ApiKeyRecord | None:
        self._db.update(
            Write(
                _key(key_id),
                sets={"revoked_at": micros(self._now())},
                condition="attribute_exists(pk) AND attribute_not_exists(#revoked_at)",
            )
        )  # not applied: unknown, or revoked before (the first time is kept)
        item = self._db.get(_key(key_id))
        return None if item is None else _record(item)


def _record(item: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=item["key_id"],
        tenant_id=item["tenant_id"],
        digest=item["digest"],
        label=item["label"],
        created_at=from_micros(item["created_at"]),  # type: ignore[arg-type]
        revoked_at=from_micros(item.get("revoked_at")),
    )
