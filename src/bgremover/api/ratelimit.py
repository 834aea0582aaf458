"""Per-tenant request rates with the ``limits`` library: a moving window per (tenant, kind of request),
counted in memory (one API process) or in Redis (``BGR_RATE_LIMIT_STORAGE_URL=redis://...``: every
API process and machine shares the count).

Submits and reads have separate limits (``BGR_RATE_LIMIT`` and ``BGR_READ_RATE_LIMIT``, overridable
per tenant): polling a job must not eat the budget for new jobs. Every rate-limited response, accepted
or refused, carries the fields of draft-ietf-httpapi-ratelimit-headers (the separate-fields form of
drafts 03-06): ``RateLimit-Limit`` (requests per window), ``RateLimit-Remaining``, ``RateLimit-Reset``
(seconds until a request is free again, an integer) and ``RateLimit-Policy`` (``120;w=60``). A refusal
is ``429 rate-limited`` with ``Retry-After`` (seconds).

Counts live in the storage only: if Redis cannot be reached the request is let through and a warning
logged (fail open: a limiter outage must not become a service outage).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal

import anyio
from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from bgremover.api.context import api_context, request_tenant
from bgremover.api.middleware import add_response_headers
from bgremover.api.problems import refusal
from bgremover.observability.logging import get_logger

RequestKind = Literal["submit", "read"]
_REDIS_TIMEOUTS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One hit's outcome and the figures the response headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    window_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_s))
        return headers


@lru_cache(maxsize=256)
def _rule(rate: str) -> RateLimitItem:
    return parse(rate)


def _storage(url: str) -> Storage:
    """A ``limits`` storage for ``memory://`` or ``redis://`` (short socket timeouts: a slow Redis
    must not slow the request path; on error the limiter fails open)."""
    options = _REDIS_TIMEOUTS if url.startswith(("redis", "rediss")) else {}
    return storage_from_string(url, wrap_exceptions=True, **options)


class TenantRateLimiter:
    """Counts requests per tenant and kind in a moving window; thread-safe (the storage is)."""

    def __init__(self, storage_url: str = "memory://") -> None:
        self._window = MovingWindowRateLimiter(_storage(storage_url))
        # Counting in memory takes microseconds: done on the event loop. A network store is called
        # from a worker thread, so a slow Redis never stalls other requests.
        self.blocking = not storage_url.startswith("memory")

    def hit(self, kind: RequestKind, tenant: str, rate: str) -> RateDecision | None:
        """Count one request against ``rate``; ``None`` when the storage could not be reached."""
        rule = _rule(rate)
        try:
            allowed = self._window.hit(rule, kind, tenant)
            stats = self._window.get_window_stats(rule, kind, tenant)
        except StorageError as exc:
            _log.warning("rate limit storage unreachable, request let through", error=str(exc))
            return None
        reset_s = max(0, math.ceil(stats.reset_time - time.time()))
        return RateDecision(allowed, rule.amount, max(0, stats.remaining), reset_s, rule.get_expiry())


async def _limited(request: Request, tenant: str, kind: RequestKind) -> str:
    ctx = api_context(request)
    limits = ctx.settings.limits_for(tenant)
    rate = limits.rate_limit if kind == "submit" else limits.read_rate_limit
    if rate is None:
        return tenant
    limiter = ctx.limiter
    if limiter.blocking:
        decision = await anyio.to_thread.run_sync(limiter.hit, kind, tenant, rate)
    else:
        decision = limiter.hit(kind, tenant, rate)
    if decision is None:
        return tenant
    if not decision.allowed:
        raise refusal(
            "rate-limit",
            429,
            "rate-limited",
            f"tenant {tenant!r} is over its {kind} rate of {rate}; retry in {max(1, decision.reset_s)} s",
            headers=decision.headers(),
            limit=rate,
        )
    add_response_headers(request, decision.headers())
    return tenant


async def submit_tenant(request: Request, tenant: Annotated[str, Depends(request_tenant)]) -> str:
    """The tenant of a submit, counted against its submit rate (before the body is read)."""
    return await _limited(request, tenant, "submit")


async def read_tenant(request: Request, tenant: Annotated[str, Depends(request_tenant)]) -> str:
    """The tenant of a read (job status, image download, cancel), counted against its read rate."""
    return await _limited(request, tenant, "read")
