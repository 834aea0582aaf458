"""Liveness, readiness and the metrics endpoint.

``/healthz`` says only that the process answers. ``/readyz`` checks what a submit needs and what
workers need (ledger, queue, models present) so that a load balancer stops routing to an instance
that would only answer 503. ``/metrics`` samples the service-wide gauges first, then renders every
process's samples (multiprocess mode under ``serve``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from bgremover.api.context import ApiContext, api_context
from bgremover.api.problems import problem_response
from bgremover.ledger.base import JobLedger, JobStatus
from bgremover.models.registry import DEFAULT_MODELS, get_model, resolve_model_dir
from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import refresh_service_gauges, render_latest

router = APIRouter()
Context = Annotated[ApiContext, Depends(api_context)]
_ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
_log = get_logger(__name__)


@router.get("/healthz", name="healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _models_present(ctx: ApiContext) -> None:
    root = resolve_model_dir(ctx.settings.model_dir)
    missing = [name for name in DEFAULT_MODELS if not (root / get_model(name, root).filename).is_file()]
    if missing:
        raise FileNotFoundError(
            f"models missing in {root}: {', '.join(missing)}; run `bg-remover models fetch`"
        )


def _readiness(ctx: ApiContext) -> dict[str, str]:
    checks: dict[str, Callable[[], None]] = {
        "ledger": ctx.services.ledger.ping,
        "queue": ctx.services.dispatcher.ping,
        "models": lambda: _models_present(ctx),
    }
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # readiness reports any failure, whatever the backend raises
            results[name] = f"failed: {exc}"
    return results


@router.get("/readyz", name="readyz")
async def readyz(request: Request, ctx: Context) -> JSONResponse:
    results = await run_in_threadpool(_readiness, ctx)
    if all(value == "ok" for value in results.values()):
        return JSONResponse({"status": "ready", "checks": results})
    return problem_response(request, 503, "not-ready", "a dependency is not reachable", checks=results)


def _active_jobs(ledger: JobLedger) -> dict[str, tuple[int, float]]:
    counts = ledger.count_by_status()
    now = datetime.now(UTC)
    active = {}
    for status in _ACTIVE:
        oldest = ledger.oldest_created_at(status)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        active[status.value] = (counts.get(status, 0), max(age, 0.0))
    return active


def _sample_and_render(ctx: ApiContext) -> tuple[bytes, str]:
    try:
        refresh_service_gauges(ctx.services.dispatcher.depth, lambda: _active_jobs(ctx.services.ledger))
    except Exception:  # a scrape still shows what every process measured when a backend is down
        _log.warning("sampling service gauges failed", exc_info=True)
    return render_latest()


@router.get("/metrics", name="metrics")
async def metrics(ctx: Context) -> Response:
    body, content_type = await run_in_threadpool(_sample_and_render, ctx)
    return Response(body, media_type=content_type)
