"""The parameter stores (a file tree, and SSM through Powertools on moto's server) and the per-tenant
configuration cache on top of each (max age, single-flight, stale-on-error, hit/miss metrics)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client import REGISTRY

from backends import S3_TEST_ENV
from bgremover.params import (
    ParameterNotFoundError,
    ParameterStore,
    ParameterStoreError,
    TenantConfig,
    TenantConfigCache,
    config_key,
)
from bgremover.params.factory import parameter_store_from_url


@dataclass
class Backend:
    """A parameter store under test, the means to write into it behind its back, and a stage no other
    test writes to."""

    store: ParameterStore
    stage: str
    write_raw: Any

    def write(self, tenant: str, value: object, stage: str | None = None) -> None:
        key = config_key(stage or self.stage, tenant)
        self.write_raw(key, value if isinstance(value, str) else json.dumps(value))


@pytest.fixture(params=["file", "ssm"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "file":

        def write_file(key: str, text: str) -> None:
            path = tmp_path / key.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

        return Backend(parameter_store_from_url(f"file://{tmp_path}", max_age_s=300), "dev", write_file)
    stage = request.getfixturevalue("ssm_stage")
    ssm = boto3.client("ssm")

    def put(key: str, text: str) -> None:  # SecureString: the store must decrypt
        ssm.put_parameter(Name=key, Value=text, Type="SecureString", Overwrite=True)

    # max age 0: the cache on top decides when to read again (its clock is the test's, not the provider's)
    return Backend(parameter_store_from_url("ssm://", max_age_s=0), stage, put)


class SlowCountingStore:
    """Test double: a real store behind a delay and a call counter, so that single-flight and
    stale-on-error are observable. ``failing`` makes every read fail like an unreachable store."""

    def __init__(self, inner: ParameterStore, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.calls = 0
        self.failing = False

    def get(self, key: str) -> Any:
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


def test_store_reads_lists_and_reports_absence(backend: Backend) -> None:
    backend.write("acme", {"thumbnail_size": 128})
    backend.write("acme", {}, stage=f"{backend.stage}x")  # another stage sharing the prefix's start
    assert backend.store.get(config_key(backend.stage, "acme")) == {"thumbnail_size": 128}
    with pytest.raises(ParameterNotFoundError):
        backend.store.get(config_key(backend.stage, "nobody"))
    assert list(backend.store.list(f"/tf/{backend.stage}/")) == [config_key(backend.stage, "acme")]
    assert list(backend.store.list(f"/tf/{backend.stage}-none/")) == []


def test_cache_serves_hits_until_max_age_then_reloads(backend: Backend) -> None:
    backend.write("acme", {"thumbnail_size": 128})
    store = SlowCountingStore(backend.store)
    clock = Clock()
    cache = TenantConfigCache(store, stage=backend.stage, max_age_s=300, clock=clock)
    hits, misses = cache_metric("hit"), cache_metric("miss")
    assert cache.get("acme").thumbnail_size == 128
    backend.write("acme", {"thumbnail_size": 64})
    clock.now += 299
    assert cache.get("acme").thumbnail_size == 128  # still fresh: the store is not read
    clock.now += 2
    assert cache.get("acme").thumbnail_size == 64
    assert store.calls == 2
    assert cache_metric("hit") - hits == 1
    assert cache_metric("miss") - misses == 2


def test_tenant_without_configuration_gets_defaults(backend: Backend) -> None:
    cache = TenantConfigCache(backend.store, stage=backend.stage)
    assert cache.get("newcomer") == TenantConfig()


def test_concurrent_misses_share_one_load(backend: Backend) -> None:
    backend.write("acme", {"grouping_threshold": 0.35})
    store = SlowCountingStore(backend.store, delay_s=0.3)
    cache = TenantConfigCache(store, stage=backend.stage)
    results: list[TenantConfig] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("acme"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.calls == 1
    assert [config.grouping_threshold for config in results] == [0.35] * 8


def test_store_failure_serves_the_last_good_value(backend: Backend) -> None:
    backend.write("acme", {"thumbnail_size": 128})
    store = SlowCountingStore(backend.store)
    clock = Clock()
    cache = TenantConfigCache(store, stage=backend.stage, max_age_s=10, clock=clock)
    cache.get("acme")
    store.failing = True
    clock.now += 11
    stale = cache_metric("stale")
    assert cache.get("acme").thumbnail_size == 128
    assert cache_metric("stale") - stale == 1
    with pytest.raises(ParameterStoreError, match="'globex' unavailable"):
        cache.get("globex")  # never loaded: nothing to fall back on


def test_invalid_configuration_keeps_the_last_good_value(backend: Backend) -> None:
    backend.write("acme", {"thumbnail_size": 128})
    clock = Clock()
    cache = TenantConfigCache(backend.store, stage=backend.stage, max_age_s=10, clock=clock)
    cache.get("acme")
    backend.write("acme", {"thumbnail_sise": 64})  # a typo is an error, not a silent default
    clock.now += 11
    assert cache.get("acme").thumbnail_size == 128
    backend.write("broken", "{not json")
    with pytest.raises(ParameterStoreError, match="invalid configuration"):
        cache.get("broken")


def test_warm_loads_every_configured_tenant(backend: Backend) -> None:
    for tenant in ["acme", "globex"]:
        backend.write(tenant, {})
    backend.write("other-stage", {}, stage=f"{backend.stage}-prod")
    store = SlowCountingStore(backend.store)
    cache = TenantConfigCache(store, stage=backend.stage)
    assert cache.warm() == ["acme", "default", "globex"]
    calls = store.calls
    cache.get("acme")
    assert store.calls == calls


def test_ssm_is_read_through_powertools_with_its_max_age(ssm_stage: str) -> None:
    """The provider caches each value for ``BGR_CONFIG_MAX_AGE_S``: a second read within it sends no
    request to SSM (counted at boto3's own event hook), a forced fetch does."""
    key = config_key(ssm_stage, "acme")
    boto3.client("ssm").put_parameter(Name=key, Value='{"thumbnail_size": 96}', Type="SecureString")
    store = parameter_store_from_url("ssm://", max_age_s=300)
    requests: list[str] = []
    store._provider.client.meta.events.register(  # type: ignore[attr-defined]
        "provide-client-params.ssm.GetParameter", lambda **kwargs: requests.append(kwargs["params"]["Name"])
    )
    assert store.get(key) == {"thumbnail_size": 96}
    assert store.get(key) == {"thumbnail_size": 96}
    assert requests == [key]


def test_an_unreachable_ssm_is_a_store_error_not_a_missing_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in S3_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    store = parameter_store_from_url("ssm://", max_age_s=300)
    with pytest.raises(ParameterStoreError, match="cannot read parameter"):
        store.get(config_key("dev", "acme"))
    with pytest.raises(ParameterStoreError):
        list(store.list("/tf/dev/"))


def test_store_urls_are_checked() -> None:
    for url in ["ssm://somewhere", "consul://x", "file://"]:
        with pytest.raises(ValueError, match="unsupported parameter store URL"):
            parameter_store_from_url(url, max_age_s=300)
