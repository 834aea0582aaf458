"""``GET /v1/jobs/{id}/events``: Server-Sent Events of one job's progress.

``event: progress`` at once with the current state and then whenever status, stage or progress change;
exactly one ``event: final`` with the final state, then the stream ends. Every ``data:`` is the body of
``GET /v1/jobs/{id}``. An event's ``id`` names the state it carries, so a client that reconnects with
``Last-Event-ID`` is not sent that state again (unless it is final: the final event always comes).
FastAPI sends ``: ping`` comments after 15 s without an event, so proxies keep the stream open.
The changes come from the process's shared poller (``bgremover.api.job_watch``), not one query per
stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from bgremover.api.job_watch import signature
from bgremover.api.jobs import Context, Tenant, job_document, tenant_job
from bgremover.api.problems import documented_problems
from bgremover.ledger.base import Job

router = APIRouter()


def event_id(job: Job) -> str:
    """The state an event carries: what the watcher compares (``signature``), so a resumed stream and
    the watcher agree on what counts as a change."""
    return ".".join("-" if part is None else str(getattr(part, "value", part)) for part in signature(job))


@router.get(
    "/v1/jobs/{job_id}/events",
    name="job_events",
    response_class=EventSourceResponse,
    responses=documented_problems(400, 401, 403, 404, 429, 503),
)
async def job_events(
    request: Request,
    ctx: Context,
    tenant: Tenant,
    job: Annotated[Job, Depends(tenant_job)],
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    """The job's progress as it happens; the stream closes after the final event."""
    async for state in ctx.watcher.follow(tenant, job):
        final = state.status.is_final
        state_id = event_id(state)
        if state_id == last_event_id and not final:
            continue  # the client has this state already
        document = await run_in_threadpool(job_document, ctx, request, tenant, state)
        yield ServerSentEvent(data=document, event="final" if final else "progress", id=state_id)
