"""Per-tenant configuration behind a cache: the request path never reads the store, and workers read
it at most once per tenant per ``max_age`` however many jobs they run.

- Single-flight: concurrent misses for one tenant share one load.
- Stale-on-error: when the store fails, the last good value is served (and the failure logged);
  only a tenant never loaded successfully gets ``ParameterStoreError``.
- A tenant with no parameter gets the defaults; that answer is cached like any other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import CONFIG_CACHE
from bgremover.params.base import (
    InvalidParameterError,
    ParameterNotFoundError,
    ParameterStore,
    ParameterStoreError,
    config_key,
    tenant_of,
)
from bgremover.params.config import TenantConfig

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    config: TenantConfig
    loaded_at: float


class TenantConfigCache:
    def __init__(
        self,
        store: ParameterStore,
        *,
        stage: str,
        max_age_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._stage = stage
        self._max_age_s = max_age_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def get(self, tenant: str) -> TenantConfig:
        entry = self._fresh(tenant)
        if entry is not None:
            CONFIG_CACHE.labels(result="hit").inc()
            return entry.config
        with self._lock_for(tenant):
            entry = self._fresh(tenant)  # loaded by another thread while this one waited
            if entry is not None:
                CONFIG_CACHE.labels(result="hit").inc()
                return entry.config
            return self._load(tenant)

    def warm(self) -> list[str]:
        """Load every tenant configured in the store (and ``default``); return their names. A store
        that cannot be listed is logged, not fatal: jobs then load on first use."""
        try:
            keys = list(self._store.list(f"/tf/{self._stage}/"))
        except (ParameterStoreError, OSError) as exc:
            log.warning("config_warm_failed", error=str(exc))
            keys = []
        tenants = sorted({"default"} | {t for key in keys if (t := tenant_of(key, self._stage))})
        for tenant in tenants:
            try:
                self.get(tenant)
            except ParameterStoreError as exc:
                log.warning("config_warm_failed", tenant=tenant, error=str(exc))
        return tenants

    def _fresh(self, tenant: str) -> _Entry | None:
        entry = self._entries.get(tenant)
        if entry is not None and self._clock() - entry.loaded_at < self._max_age_s:
            return entry
        return None

    def _lock_for(self, tenant: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(tenant, threading.Lock())

    def _load(self, tenant: str) -> TenantConfig:
        key = config_key(self._stage, tenant)
        try:
            config = self._read(key)
        except (ParameterStoreError, ValueError) as exc:
            previous = self._entries.get(tenant)
            if previous is None:
                CONFIG_CACHE.labels(result="error").inc()
                raise ParameterStoreError(f"configuration of tenant {tenant!r} unavailable: {exc}") from exc
            CONFIG_CACHE.labels(result="stale").inc()
            log.warning("config_stale", tenant=tenant, key=key, error=str(exc))
            return previous.config
        CONFIG_CACHE.labels(result="miss").inc()
        self._entries[tenant] = _Entry(config, self._clock())
        return config

    def _read(self, key: str) -> TenantConfig:
        try:
            return TenantConfig.model_validate(self._store.get(key))
        except ParameterNotFoundError:
            return TenantConfig()
        except (InvalidParameterError, ValidationError) as exc:
            raise ValueError(f"invalid configuration at {key}: {exc}") from exc
