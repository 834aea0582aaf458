"""Stored API keys on SQLite and PostgreSQL: format, hashed storage, revocation, the in-memory copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bgremover.ledger.base import ApiKeyRecord, utcnow
from bgremover.ledger.schema import api_keys
from bgremover.ledger.sql_keys import SqlApiKeyStore
from bgremover.tenancy.api_keys import KEY_PREFIX, digest_hex, issue_key, split_key
from bgremover.tenancy.stored_keys import StoredKeySnapshot


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlApiKeyStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    built = SqlApiKeyStore.from_url(url, migrate=True)
    yield built
    built.close()


def add_key(store: SqlApiKeyStore, tenant: str, label: str = "") -> str:
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


def test_only_the_digest_is_stored(store: SqlApiKeyStore) -> None:
    plaintext = add_key(store, "acme", "ci")
    key_id, secret = split_key(plaintext) or ("", "")
    with store.engine.connect() as conn:
        row = conn.execute(select(api_keys)).mappings().one()
    assert row["key_id"] == key_id and row["digest"] == digest_hex(secret)
    assert secret not in {str(value) for value in row.values()}
    assert plaintext not in {str(value) for value in row.values()}


def test_list_filters_by_tenant_and_revoke_marks_once(store: SqlApiKeyStore) -> None:
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


def test_snapshot_resolves_active_keys_and_drops_revoked_ones_on_refresh(store: SqlApiKeyStore) -> None:
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
