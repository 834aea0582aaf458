"""``GET /v1/jobs``: the caller's own jobs, newest first, a page at a time.

A listed job is a summary (``JobSummary``): the job's state, progress and image counts, and
``statusUrl``, its full document with per-image results, groups and webhook. Those children (up to
1,000 image records a job) are read per job, so a page costs one ledger read however big its jobs are.

The cursor is the ``(created_at, job_id)`` of the last job of the page, opaque to clients (URL-safe
base64 of JSON): a keyset, so pages neither skip nor repeat a job while new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bgremover.api.jobs import Context, Tenant
from bgremover.api.problems import ProblemError, documented_problems
from bgremover.api.representation import job_summary_json
from bgremover.ledger.base import Job, JobStatus, JobType

router = APIRouter()
MAX_PAGE = 100


class _Camel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Progress(_Camel):
    done: int
    total: int


class ImageCounts(_Camel):
    succeeded: int | None
    failed: int | None


class JobSummary(_Camel):
    """A listed job: what ``GET /v1/jobs/{jobId}`` says of the job itself, without ``result`` (per-image
    results and groups) and ``webhook``; follow ``statusUrl`` for those."""

    job_id: str = Field(alias="jobId")
    tenant_id: str = Field(alias="tenantId")
    type: JobType
    status: JobStatus
    stage: str | None
    progress: Progress
    stages: dict[str, dict[str, Any]] = Field(description="each finished stage's duration: {name: {ms}}")
    attempts: int
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")
    error: dict[str, Any] | None = Field(description="a problem object when the job failed")
    image_counts: ImageCounts | None = Field(
        alias="imageCounts", description="images succeeded and failed, once the job has a result"
    )
    status_url: str = Field(alias="statusUrl", description="the job's full document")


class JobPage(_Camel):
    """One page of the list; ``nextCursor`` (null on the last page) asks for the next."""

    jobs: list[JobSummary]
    next_cursor: str | None = Field(alias="nextCursor")


def encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        bound = (datetime.fromisoformat(created_at), job_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ProblemError(400, "invalid-cursor", "the cursor is not one this API returned") from exc
    if not isinstance(job_id, str) or bound[0].tzinfo is None:
        raise ProblemError(400, "invalid-cursor", "the cursor is not one this API returned")
    return bound[0].astimezone(UTC), job_id  # SQLite compares the stored UTC text: no other offset


@router.get(
    "/v1/jobs",
    name="list_jobs",
    response_model=JobPage,  # documents the page; the handler answers the JSON itself
    responses=documented_problems(400, 401, 403, 429, 503),
)
async def list_jobs(
    request: Request,
    ctx: Context,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: str | None = None,
    status: JobStatus | None = None,
    job_type: Annotated[JobType | None, Query(alias="type")] = None,
) -> JSONResponse:
    """The tenant's jobs, newest first, each a summary with a link to its full document;
    ``nextCursor`` is null on the last page."""
    before = decode_cursor(cursor) if cursor else None

    def page() -> tuple[list[dict], str | None]:
        jobs = ctx.services.ledger.list_jobs(
            tenant, status=status, job_type=job_type, before=before, limit=limit + 1
        )
        more = len(jobs) > limit
        jobs = jobs[:limit]
        summaries = [job_summary_json(request, job) for job in jobs]
        return summaries, encode_cursor(jobs[-1]) if more else None

    summaries, next_cursor = await run_in_threadpool(page)
    return JSONResponse({"jobs": summaries, "nextCursor": next_cursor})
