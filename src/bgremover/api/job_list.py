"""``GET /v1/jobs``: the caller's own jobs, newest first, a page at a time.

The cursor is the ``(created_at, job_id)`` of the last job of the page, opaque to clients (URL-safe
base64 of JSON): a keyset, so pages neither skip nor repeat a job while new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bgremover.api.jobs import Context, Tenant, job_document
from bgremover.api.problems import ProblemError, documented_problems
from bgremover.ledger.base import Job, JobStatus, JobType

router = APIRouter()
MAX_PAGE = 100


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


@router.get("/v1/jobs", name="list_jobs", responses=documented_problems(400, 401, 403, 429, 503))
async def list_jobs(
    request: Request,
    ctx: Context,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: str | None = None,
    status: JobStatus | None = None,
    job_type: Annotated[JobType | None, Query(alias="type")] = None,
) -> JSONResponse:
    """The tenant's jobs, newest first; ``nextCursor`` is null on the last page."""
    before = decode_cursor(cursor) if cursor else None

    def page() -> tuple[list[dict], str | None]:
        jobs = ctx.services.ledger.list_jobs(
            tenant, status=status, job_type=job_type, before=before, limit=limit + 1
        )
        more = len(jobs) > limit
        jobs = jobs[:limit]
        documents = [job_document(ctx, request, tenant, job) for job in jobs]
        return documents, encode_cursor(jobs[-1]) if more else None

    documents, next_cursor = await run_in_threadpool(page)
    return JSONResponse({"jobs": documents, "nextCursor": next_cursor})
