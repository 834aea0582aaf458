"""The API's answer while PostgreSQL, Redis or the blob store is briefly unreachable: ``503`` with
``Retry-After`` and a problem naming the backend, instead of a ``500``.

Nothing is lost by answering so: the submit path stores blobs, then the job row, then enqueues, and
removes the blobs of a request whose job row was never written (a job written but not enqueued is
failed with the reason, or re-enqueued by the reaper). Recovery needs no restart: SQLAlchemy's pool
pre-pings and reconnects, redis-py and boto3 reconnect on the next call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bgremover.api.problems import problem_response
from bgremover.observability.logging import get_logger
from bgremover.resilience.transient import LEDGER_OUTAGE, QUEUE_OUTAGE, STORAGE_OUTAGE

OUTAGE_RETRY_AFTER_S = 5
_log = get_logger(__name__)

_OUTAGES: tuple[tuple[tuple[type[Exception], ...], str, str], ...] = (
    (LEDGER_OUTAGE, "ledger-unavailable", "the job database"),
    (QUEUE_OUTAGE, "queue-unavailable", "the task queue"),
    (STORAGE_OUTAGE, "storage-unavailable", "the blob store"),
)

Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def _handler(slug: str, backend: str) -> Handler:
    async def on_outage(request: Request, exc: Exception) -> JSONResponse:
        _log.warning("backend unavailable", backend=slug, error=f"{type(exc).__name__}: {exc}"[:500])
        detail = f"{backend} is not reachable right now; retry in a few seconds"
        headers = {"Retry-After": str(OUTAGE_RETRY_AFTER_S)}
        return problem_response(request, 503, slug, detail, headers=headers)

    return on_outage


def install_outage_handlers(app: FastAPI) -> None:
    for exceptions, slug, backend in _OUTAGES:
        for exception in exceptions:
            app.add_exception_handler(exception, _handler(slug, backend))
