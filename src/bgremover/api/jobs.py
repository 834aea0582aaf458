"""Reading, cancelling and downloading a tenant's jobs. Another tenant's job is simply not found."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from bgremover.api.context import ApiContext, api_context
from bgremover.api.ids import checked_id, not_found
from bgremover.api.problems import documented_problems
from bgremover.api.ratelimit import read_tenant
from bgremover.api.representation import OUTPUT_KINDS, job_json
from bgremover.blobs.base import BlobNotFoundError, PresigningBlobStore
from bgremover.blobs.keys import upload_key
from bgremover.blobs.upload import read_original_from_upload
from bgremover.imaging.decode import sniff_image_type
from bgremover.ledger.base import ImageRecord, ImageStatus, Job, JobStatus
from bgremover.observability.logging import bind_log_context
from bgremover.observability.metrics import JOBS

router = APIRouter()
Tenant = Annotated[str, Depends(read_tenant)]  # resolved, then counted against the read rate
Context = Annotated[ApiContext, Depends(api_context)]
_CHUNK = 256 * 1024


def job_document(ctx: ApiContext, request: Request, tenant: str, job: Job) -> dict:
    """The body of ``GET /v1/jobs/{id}`` (also each event of its stream; the list has summaries)."""
    images = ctx.services.ledger.list_images(tenant, job.job_id) if job.result is not None else None
    webhook = ctx.services.ledger.webhook_delivery(tenant, job.job_id) if job.status.is_final else None
    return job_json(request, job, images, webhook)


async def tenant_job(job_id: str, ctx: Context, tenant: Tenant) -> Job:
    """The tenant's job named in the path, or 404 before any response starts (streams included)."""
    job_id = checked_id(job_id, "job")
    bind_log_context(job_id=job_id)
    job = await run_in_threadpool(ctx.services.ledger.get_job, tenant, job_id)
    if job is None:
        raise not_found("job")
    return job


_JOB_PROBLEMS = documented_problems(400, 401, 403, 404, 429, 503)


@router.get("/v1/jobs/{job_id}", name="get_job", responses=_JOB_PROBLEMS)
async def get_job(
    request: Request, ctx: Context, tenant: Tenant, job: Annotated[Job, Depends(tenant_job)]
) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(job_document, ctx, request, tenant, job))


@router.delete("/v1/jobs/{job_id}", name="cancel_job", responses=_JOB_PROBLEMS)
async def cancel_job(job_id: str, request: Request, ctx: Context, tenant: Tenant) -> JSONResponse:
    """Cancel a queued or running job (a worker stops at its next check); a final job is returned as is."""
    job_id = checked_id(job_id, "job")
    bind_log_context(job_id=job_id)
    ledger = ctx.services.ledger

    def cancel() -> tuple[Job | None, Job | None]:
        before = ledger.get_job(tenant, job_id)
        return before, (ledger.cancel(tenant, job_id) if before is not None else None)

    before, after = await run_in_threadpool(cancel)
    if before is None or after is None:
        raise not_found("job")
    if after.status is JobStatus.CANCELED and before.status is not JobStatus.CANCELED:
        JOBS.labels(type=after.type.value, status="canceled").inc()
    return JSONResponse(await run_in_threadpool(job_document, ctx, request, tenant, after))


def _chunks(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    try:
        yield head
        while chunk := stream.read(_CHUNK):
            yield chunk
    finally:
        stream.close()


@router.get("/v1/jobs/{job_id}/images/{image_id}/{kind}", name="get_image_blob", responses=_JOB_PROBLEMS)
async def get_image_blob(job_id: str, image_id: str, kind: str, ctx: Context, tenant: Tenant) -> Response:
    """Stream an original or an output of one image, without loading it whole."""
    if kind != "original" and kind not in OUTPUT_KINDS:
        raise not_found(f"image kind {kind!r} (original, {', '.join(OUTPUT_KINDS)})")
    job_id, image_id = checked_id(job_id, "job"), checked_id(image_id, "image")
    bind_log_context(job_id=job_id)
    image = await run_in_threadpool(ctx.services.ledger.get_image, tenant, job_id, image_id)
    if image is None:
        raise not_found("image")
    key = image.blob_key if kind == "original" else image.outputs.get(kind)
    if key is None:
        raise not_found(f"{kind} for this image (not produced, or not yet)")
    blobs = ctx.services.blobs
    # An original has a blob of its own once the worker unpacked the submit's upload, which it does before
    # it records any image: only a pending image's may still be a window of the upload (None: not known).
    unpacked: bool | None = None if kind == "original" and image.status is ImageStatus.PENDING else True
    # the store serves it (the URL is time-limited); an original only once the worker unpacked it
    if isinstance(blobs, PresigningBlobStore) and (url := blobs.presigned_url(key)):
        if unpacked is None:
            unpacked = await run_in_threadpool(blobs.exists, key)  # one look
        if unpacked:
            return RedirectResponse(url, status_code=307)
    try:
        if kind == "original":  # not opened again when the look above said it is not unpacked
            stream = await run_in_threadpool(_open_original, ctx, tenant, image, unpacked is not False)
        else:
            stream = await run_in_threadpool(blobs.open, key)
    except BlobNotFoundError as exc:
        raise not_found(f"{kind} blob") from exc
    head = await run_in_threadpool(stream.read, 64)
    media_type = sniff_image_type(head) or "application/octet-stream"
    return StreamingResponse(
        _chunks(head, stream), media_type=media_type, headers={"Cache-Control": "private, max-age=3600"}
    )


def _open_original(ctx: ApiContext, tenant: str, image: ImageRecord, try_own_blob: bool) -> BinaryIO:
    """The original, or its window of the submit's upload while the worker has not unpacked it;
    ``try_own_blob`` False when the caller has just seen that the original has no blob of its own."""
    blobs = ctx.services.blobs
    if try_own_blob:
        with contextlib.suppress(BlobNotFoundError):
            return blobs.open(image.blob_key)
    before = itertools.takewhile(
        lambda other: other.image_id != image.image_id, ctx.services.ledger.list_images(tenant, image.job_id)
    )
    offset = sum(other.size_bytes for other in before)
    try:
        return read_original_from_upload(blobs, upload_key(tenant, image.job_id), offset, image.size_bytes)
    except BlobNotFoundError:
        return blobs.open(image.blob_key)  # unpacked, and the upload removed, since the first look
