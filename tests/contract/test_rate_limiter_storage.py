"""The tenant rate limiter's contract on each storage: in memory (one API process) and in the real local
Redis (shared by every API process). Tenants are named inside a fresh Redis namespace, so the keys
of one test never meet another's and are deleted afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from backends import REDIS_URL, free_port, redis_namespace
from bgremover.api.ratelimit import TenantRateLimiter


@pytest.fixture(params=["memory", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    request.getfixturevalue("redis_up")
    return REDIS_URL


@pytest.fixture
def tenant() -> Iterator[str]:
    with redis_namespace() as name:
        yield f"tenant-{name}"


def test_counts_down_then_refuses_until_the_window_moves(storage_url: str, tenant: str) -> None:
    limiter = TenantRateLimiter(storage_url)
    decisions = [limiter.hit("submit", tenant, "3/2second") for _ in range(4)]
    assert all(d is not None for d in decisions)
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    refused = decisions[-1]
    assert refused.limit == 3 and refused.window_s == 2
    assert 1 <= int(refused.headers()["Retry-After"]) <= 2
    time.sleep(2.1)
    again = limiter.hit("submit", tenant, "3/2second")
    assert again is not None and again.allowed


def test_tenants_and_kinds_are_counted_apart(storage_url: str, tenant: str) -> None:
    limiter = TenantRateLimiter(storage_url)
    assert limiter.hit("submit", tenant, "1/minute").allowed
    assert not limiter.hit("submit", tenant, "1/minute").allowed
    assert limiter.hit("read", tenant, "1/minute").allowed
    assert limiter.hit("submit", f"{tenant}-other", "1/minute").allowed


def test_api_processes_share_the_count_only_through_redis(storage_url: str, tenant: str) -> None:
    """Two limiters stand for two API processes: Redis gives them one budget, memory one each."""
    first, second = TenantRateLimiter(storage_url), TenantRateLimiter(storage_url)
    assert first.hit("submit", tenant, "2/minute").allowed
    assert first.hit("submit", tenant, "2/minute").allowed
    shared = storage_url.startswith("redis")
    assert second.hit("submit", tenant, "2/minute").allowed is not shared


def test_unreachable_redis_lets_requests_through() -> None:
    """Fail open: a limiter outage must not become a service outage (a warning is logged)."""
    limiter = TenantRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    assert limiter.hit("submit", "acme", "1/minute") is None
    assert time.monotonic() - started < 5
