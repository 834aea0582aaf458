"""The FastAPI application factory.

``create_app(services, settings)`` with services given (tests, ``serve``) uses them as they are;
without, it builds them from the settings' URLs at start-up and closes them at shutdown, so
``uvicorn --factory bgremover.api:create_app`` works on its own too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from bgremover import __version__
from bgremover.api import archive, direct_uploads, health, job_events, job_list, jobs, submit
from bgremover.api.context import ApiContext, ServiceSet
from bgremover.api.heap import startup_objects_frozen
from bgremover.api.job_watch import JobWatcher
from bgremover.api.middleware import RequestContextMiddleware
from bgremover.api.outage import install_outage_handlers
from bgremover.api.problems import install_problem_handlers
from bgremover.api.ratelimit import TenantRateLimiter
from bgremover.api.web import install_web_page
from bgremover.settings import Settings, get_settings
from bgremover.tenancy import TenantResolver


def _context(services: ServiceSet, settings: Settings) -> ApiContext:
    limiter = TenantRateLimiter(settings.rate_limit_storage_url)
    # Stored API keys are read through the ledger's own connections, not a second pool on its database.
    resolver = TenantResolver.from_settings(settings, ledger=services.ledger)
    watcher = JobWatcher(services.ledger, settings.events_poll_s)
    return ApiContext(services, settings, resolver, limiter, watcher)


@asynccontextmanager
async def _serving(context: ApiContext) -> AsyncIterator[None]:
    """Stored API keys and the JWKS loaded before the first request (then refreshed in the
    background), and everything alive at that point frozen out of the collector's scans."""
    context.resolver.start()
    try:
        with startup_objects_frozen():
            yield
    finally:
        await context.watcher.close()
        context.resolver.stop()


def create_app(services: ServiceSet | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            async with _serving(app.state.api):
                yield
            return
        from bgremover.wiring import build_services  # the adapters, only when the app owns them

        owned = build_services(settings)
        app.state.api = _context(owned, settings)
        try:
            async with _serving(app.state.api):
                yield
        finally:
            owned.close()

    # FastAPIOffline: /docs and /redoc load their scripts from the installed package, not from a CDN
    app = FastAPIOffline(
        title="bg-remover", version=__version__, lifespan=lifespan, openapi_url="/openapi.json"
    )
    if services is not None:
        app.state.api = _context(services, settings)
    install_problem_handlers(app)
    install_outage_handlers(app)  # 503 + Retry-After while PostgreSQL, Redis or S3 is down
    app.add_middleware(RequestContextMiddleware)
    for module in (submit, direct_uploads, job_list, jobs, job_events, archive, health):
        app.include_router(module.router)
    install_web_page(app)
    return app
