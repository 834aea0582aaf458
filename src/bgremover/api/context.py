"""What every route needs, built once per app: the services, the settings, the tenant resolver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fastapi import Request

from bgremover.api.problems import ProblemError
from bgremover.blobs.base import BlobStore
from bgremover.ledger.base import JobLedger
from bgremover.observability.logging import bind_log_context
from bgremover.queue.base import Dispatcher
from bgremover.settings import Settings
from bgremover.tenancy import TenantResolutionError, TenantResolver

if TYPE_CHECKING:
    from bgremover.api.job_watch import JobWatcher
    from bgremover.api.ratelimit import TenantRateLimiter


class ServiceSet(Protocol):
    """The ports the API uses; ``bgremover.wiring.Services`` is the real one."""

    @property
    def ledger(self) -> JobLedger: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def dispatcher(self) -> Dispatcher: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    services: ServiceSet
    settings: Settings
    resolver: TenantResolver
    limiter: TenantRateLimiter  # per-tenant request rates (bgremover.api.ratelimit)
    watcher: JobWatcher  # the shared poller behind job event streams (bgremover.api.job_watch)


def api_context(request: Request) -> ApiContext:
    return request.app.state.api  # type: ignore[no-any-return]


async def request_tenant(request: Request) -> str:
    """The request's tenant (from headers and Host only), bound into the log context."""
    try:
        tenant = api_context(request).resolver.resolve(request.headers, request.headers.get("host"))
    except TenantResolutionError as exc:
        headers = {"WWW-Authenticate": 'Bearer realm="bg-remover"'} if exc.status == 401 else None
        raise ProblemError(exc.status, exc.slug, exc.detail, headers=headers) from exc
    bind_log_context(tenant_id=tenant)
    return tenant
