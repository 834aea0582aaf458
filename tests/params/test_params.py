"""The file-tree parameter store and the per-tenant configuration cache (max age, single-flight,
stale-on-error, hit/miss metrics)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bgremover.params import (
    ParameterNotFoundError,
    ParameterStoreError,
    TenantConfig,
    TenantConfigCache,
    config_key,
)
from bgremover.params.local import LocalParameterStore


def write_config(root: Path, tenant: str, value: object, stage: str = "dev") -> Path:
    path = root / config_key(stage, tenant).lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


class SlowCountingStore:
    """Test double: the real local store behind a delay and a call counter, so that single-flight
    and stale-on-error are observable. ``failing`` makes every read fail like an unreachable store."""

    def __init__(self, inner: LocalParameterStore, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.calls = 0
        self.failing = False

    def get(self, key: str) -> str:
        self.calls += 1
        time.sleep(self.delay_s)
        if self.failing:
            raise ParameterStoreError("store unreachable")
        return self.inner.get(key)

    def list(self, prefix: str) -> Iterator[str]:
        return self.inner.list(prefix)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_metric(result: str) -> float:
    return REGISTRY.get_sample_value("bgr_config_cache_requests_total", {"result": result}) or 0.0


def test_keys_follow_the_contract_and_reject_path_tricks() -> None:
    assert config_key("prod", "acme") == "/tf/prod/acme/services/bg-remover/config"
    for tenant in ["../x", "a/b", "", ".."]:
        with pytest.raises(ValueError, match="invalid tenant"):
            config_key("prod", tenant)


def test_local_store_reads_lists_and_reports_absence(tmp_path: Path) -> None:
    write_config(tmp_path, "acme", {"thumbnail_size": 128})
    store = LocalParameterStore.from_url(f"file://{tmp_path}")
    assert json.loads(store.get(config_key("dev", "acme"))) == {"thumbnail_size": 128}
    with pytest.raises(ParameterNotFoundError):
        store.get(config_key("dev", "nobody"))
    assert list(store.list("/tf/dev/")) == [config_key("dev", "acme")]
    assert list(store.list("/tf/prod/")) == []


def test_cache_serves_hits_until_max_age_then_reloads(tmp_path: Path) -> None:
    write_config(tmp_path, "acme", {"thumbnail_size": 128})
    store = SlowCountingStore(LocalParameterStore(tmp_path))
    clock = Clock()
    cache = TenantConfigCache(store, stage="dev", max_age_s=300, clock=clock)
    hits, misses = cache_metric("hit"), cache_metric("miss")
    assert cache.get("acme").thumbnail_size == 128
    write_config(tmp_path, "acme", {"thumbnail_size": 64})
    clock.now += 299
    assert cache.get("acme").thumbnail_size == 128  # still fresh: the store is not read
    clock.now += 2
    assert cache.get("acme").thumbnail_size == 64
    assert store.calls == 2
    assert cache_metric("hit") - hits == 1
    assert cache_metric("miss") - misses == 2


def test_tenant_without_configuration_gets_defaults(tmp_path: Path) -> None:
    cache = TenantConfigCache(LocalParameterStore(tmp_path), stage="dev")
    assert cache.get("newcomer") == TenantConfig()


def test_concurrent_misses_share_one_load(tmp_path: Path) -> None:
    write_config(tmp_path, "acme", {"grouping_threshold": 0.35})
    store = SlowCountingStore(LocalParameterStore(tmp_path), delay_s=0.3)
    cache = TenantConfigCache(store, stage="dev")
    results: list[TenantConfig] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("acme"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.calls == 1
    assert [config.grouping_threshold for config in results] == [0.35] * 8


def test_store_failure_serves_the_last_good_value(tmp_path: Path) -> None:
    write_config(tmp_path, "acme", {"thumbnail_size": 128})
    store = SlowCountingStore(LocalParameterStore(tmp_path))
    clock = Clock()
    cache = TenantConfigCache(store, stage="dev", max_age_s=10, clock=clock)
    cache.get("acme")
    store.failing = True
    clock.now += 11
    stale = cache_metric("stale")
    assert cache.get("acme").thumbnail_size == 128
    assert cache_metric("stale") - stale == 1
    with pytest.raises(ParameterStoreError, match="'globex' unavailable"):
        cache.get("globex")  # never loaded: nothing to fall back on


def test_invalid_configuration_keeps_the_last_good_value(tmp_path: Path) -> None:
    write_config(tmp_path, "acme", {"thumbnail_size": 128})
    clock = Clock()
    cache = TenantConfigCache(LocalParameterStore(tmp_path), stage="dev", max_age_s=10, clock=clock)
    cache.get("acme")
    write_config(tmp_path, "acme", {"thumbnail_sise": 64})  # a typo is an error, not a silent default
    clock.now += 11
    assert cache.get("acme").thumbnail_size == 128
    write_config(tmp_path, "broken", "{not json")
    with pytest.raises(ParameterStoreError, match="invalid configuration"):
        cache.get("broken")


def test_warm_loads_every_configured_tenant(tmp_path: Path) -> None:
    for tenant in ["acme", "globex"]:
        write_config(tmp_path, tenant, {})
    write_config(tmp_path, "other-stage", {}, stage="prod")
    store = SlowCountingStore(LocalParameterStore(tmp_path))
    cache = TenantConfigCache(store, stage="dev")
    assert cache.warm() == ["acme", "default", "globex"]
    calls = store.calls
    cache.get("acme")
    assert store.calls == calls
