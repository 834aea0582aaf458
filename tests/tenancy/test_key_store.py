"""Stored API keys on SQLite, PostgreSQL and DynamoDB: format, hashed storage, revocation, the in-memory
copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from backends import SERVER_LEDGER_URLS
from bgremover.ledger.base import ApiKeyRecord, ApiKeyStore, utcnow
from bgremover.ledger.dynamodb_keys import DynamoDbApiKeyStore
from bgremover.ledger.dynamodb_table import deserialize
from bgremover.ledger.factory import key_store_from_url
from bgremover.ledger.schema import api_keys
from bgremover.ledger.sql_keys import SqlApiKeyStore
from bgremover.tenancy.api_keys import KEY_PREFIX, digest_hex, issue_key, split_key
from bgremover.tenancy.stored_keys import StoredKeySnapshot


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiKeyStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = str(request.getfixturevalue(SERVER_LEDGER_URLS[request.param]))
    built = key_store_from_url(url, migrate=True)
    yield built
    built.close()


def stored_values(store: ApiKeyStore) -> list[dict[str, object]]:
    """Every stored key as the database holds it (not as the store reads it back)."""
    if isinstance(store, SqlApiKeyStore):
        with store.engine.connect() as conn:
            return [dict(row) for row in conn.execute(select(api_keys)).mappings()]
    assert isinstance(store, DynamoDbApiKeyStore)
    items = store._db.client.scan(TableName=store._db.name)["Items"]  # a test may scan
    return [deserialize(item) for item in items]


def add_key(store: ApiKeyStore, tenant: str, label: str = "") -> str:
    issued = issue_key()
    store.add(ApiKeyRecord(issued.key_id, tenant, issued.digest, label, utcnow()))
    return issued.plaintext


def test_issued_keys_are_random_and_split_into_id_and_secret() -> None:
    first, second = issue_key(), issue_key()
    assert first.plaintext.startswith(KEY_PREFIX) and first.plaintext != second.plaintext
    key_id, secret = split_key(first.plaintext) or ("", "")
    assert key_id == first.key_id and len(secret) >= 43  # 32 random bytes, base64url
    assert digest_hex(secret) == first.digest
    for malformed in ("bgr_", "bgr_abc", "bgr__secret", "abc_def_ghi", ""):
        assert split_key(malformed) is None


def test_only_the_digest_is_stored(store: ApiKeyStore) -> None:
    plaintext = add_key(store, "acme", "ci")
    key_id, secret = split_key(plaintext) or ("", "")
    [row] = stored_values(store)
    assert row["key_id"] == key_id and row["digest"] == digest_hex(secret)
    assert secret not in {str(value) for value in row.values()}
    assert plaintext not in {str(value) for value in row.values()}


def test_list_filters_by_tenant_and_revoke_marks_once(store: ApiKeyStore) -> None:
    add_key(store, "acme", "one")
    globex = add_key(store, "globex")
    assert {r.tenant_id for r in store.list_keys()} == {"acme", "globex"}
    assert [r.label for r in store.list_keys("acme")] == ["one"]
    globex_id = (split_key(globex) or ("", ""))[0]
    revoked = store.revoke(globex_id)
    assert revoked is not None and revoked.revoked_at is not None
    assert revoked.revoked_at.tzinfo is not None and revoked.revoked_at <= datetime.now(UTC)
    again = store.revoke(globex_id)
    assert again is not None and again.revoked_at == revoked.revoked_at  # the first time is kept
    assert store.revoke("no-such-id") is None
    assert [r.tenant_id for r in store.active_keys()] == ["acme"]
    assert len(store.list_keys()) == 2  # revoked keys stay listed


def test_snapshot_resolves_active_keys_and_drops_revoked_ones_on_refresh(store: ApiKeyStore) -> None:
    acme, globex = add_key(store, "acme"), add_key(store, "globex")
    snapshot = StoredKeySnapshot(store)
    assert snapshot.tenant_for(acme) is None  # nothing is read until the first refresh
    snapshot.refresh()
    assert snapshot.tenant_for(acme) == "acme" and snapshot.tenant_for(globex) == "globex"
    key_id, secret = split_key(acme) or ("", "")
    assert snapshot.tenant_for(f"{KEY_PREFIX}{key_id}_{secret[:-1]}x") is None  # wrong secret
    assert snapshot.tenant_for(f"{KEY_PREFIX}0000000000000000_{secret}") is None  # unknown id
    assert snapshot.tenant_for(secret) is None  # not in the key format
    store.revoke(key_id)
    assert snapshot.tenant_for(acme) == "acme"  # until the next refresh
    snapshot.refresh()
    assert snapshot.tenant_for(acme) is None and snapshot.tenant_for(globex) == "globex"


def test_a_failed_refresh_keeps_the_last_good_snapshot(tmp_path: Path) -> None:
    store = SqlApiKeyStore.from_url(f"sqlite:///{tmp_path / 'ledger.db'}", migrate=True)
    key = add_key(store, "acme")
    snapshot = StoredKeySnapshot(store)
    snapshot.refresh()
    with store.engine.begin() as conn:
        conn.execute(api_keys.delete())
        conn.exec_driver_sql("DROP TABLE api_keys")
    with pytest.raises(Exception, match="api_keys"):
        snapshot.refresh()
    assert snapshot.tenant_for(key) == "acme"
    store.close()
