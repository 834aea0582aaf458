"""The submit path: tenant from the request, uploads checked and stored, job written, hand-off to
the queue within a bounded time, ``202``. Nothing here loads configuration or models, so the answer
takes milliseconds whatever the batch; if the queue does not take the job in time the job is marked
failed with the reason and the client is told to retry (503), never left hanging."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import anyio
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from bgremover.api.context import ApiContext, api_context
from bgremover.api.direct_uploads import read_references
from bgremover.api.ids import image_id
from bgremover.api.options import GroupImagesOptions, RemoveBackgroundOptions
from bgremover.api.problems import ProblemError, documented_problems, problem, request_id_of
from bgremover.api.quotas import Admission, admit_before_body, admit_images
from bgremover.api.ratelimit import submit_tenant
from bgremover.api.representation import status_url
from bgremover.api.uploads import References, StagedImage, Submission, read_submission
from bgremover.blobs.keys import original_key, upload_key
from bgremover.blobs.upload import put_upload
from bgremover.cutout.options import IMAGE_ROIS
from bgremover.cutout.roi import RoiError, normalise_roi
from bgremover.ledger.base import IdempotencyConflictError, Job, JobType, NewImage, NewJob
from bgremover.observability.logging import bind_log_context, get_logger
from bgremover.observability.metrics import ENQUEUE_DURATION, ENQUEUE_FAILURES, JOBS
from bgremover.queue.base import EnqueueError

router = APIRouter()
_log = get_logger(__name__)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
ENQUEUE_RETRY_AFTER_S = 5

Tenant = Annotated[str, Depends(submit_tenant)]  # resolved, then counted against the submit rate
Context = Annotated[ApiContext, Depends(api_context)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _options(model: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return model.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ProblemError(422, "invalid-options", "the job options are not valid", errors=errors) from exc


def _image_rois(submission: Submission) -> dict[str, str]:
    """The photos' own ROIs (JSON image objects' ``roi``), canonical, by image id; 422 names the image."""
    rois: dict[str, str] = {}
    errors = []
    for position, staged in enumerate(submission.images, 1):
        if staged.roi is None:
            continue
        try:
            rois[image_id(position)] = normalise_roi(staged.roi)
        except RoiError as exc:
            errors.append({"loc": ["images", position - 1, "roi"], "msg": str(exc), "type": "value_error"})
    if errors:
        raise ProblemError(422, "invalid-options", "the job options are not valid", errors=errors)
    return rois


def _job_options(model: type[BaseModel], submission: Submission) -> dict[str, Any]:
    options = _options(model, submission.options)
    rois = _image_rois(submission)
    return {**options, IMAGE_ROIS: rois} if rois else options


def _fingerprint(job_type: JobType, options: dict[str, Any], submission: Submission) -> str:
    """Same key + same fingerprint = the same request: type, options and every image's name and bytes."""
    images = [[image.filename, image.size, image.sha256()] for image in submission.images]
    canonical = json.dumps({"type": job_type.value, "options": options, "images": images}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _new_image(new: NewJob, position: int, staged: StagedImage) -> NewImage:
    """The ledger row of one photo: its original's key is where the worker unpacks it from the upload."""
    photo = image_id(position)
    key = original_key(new.tenant_id, new.job_id, photo)
    return NewImage(photo, staged.filename, key, staged.content_type, staged.size)


def _store_and_record(
    ctx: ApiContext, new: NewJob, submission: Submission, fingerprint_needed: bool
) -> tuple[Job, bool]:
    """The upload first (every photo in one blob: one file created on the request path, not one per
    photo), then the ledger row with each image where the worker will unpack its original; on replay
    or failure the upload of this attempt, its only blob, is removed again so nothing is left behind
    (one delete: no listing of the job's folder)."""
    blobs, upload = ctx.services.blobs, upload_key(new.tenant_id, new.job_id)
    fingerprint = _fingerprint(new.type, new.options, submission) if fingerprint_needed else None
    images = [_new_image(new, position, staged) for position, staged in enumerate(submission.images, 1)]
    try:
        put_upload(blobs, upload, [staged.file for staged in submission.images])
        job, created = ctx.services.ledger.create_job(
            dataclasses.replace(new, images=images, request_fingerprint=fingerprint)
        )
    except BaseException:
        blobs.delete(upload)
        raise
    if not created:
        blobs.delete(upload)
    return job, created


async def _hand_off(ctx: ApiContext, job_id: str) -> str | None:
    """Enqueue within the configured bound; the reason it failed, or ``None``. The outer deadline
    holds even if a dispatcher ignores its own timeout: the thread is abandoned, the request is not."""
    timeout = ctx.settings.enqueue_timeout_s
    enqueue = functools.partial(ctx.services.dispatcher.enqueue, job_id, timeout=timeout)
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            await anyio.to_thread.run_sync(enqueue, abandon_on_cancel=True)
    except TimeoutError:
        ENQUEUE_FAILURES.labels(reason="timeout").inc()
        return f"the queue did not accept the job within {timeout:g} s"
    except EnqueueError as exc:
        ENQUEUE_FAILURES.labels(reason="error").inc()
        return f"the queue refused the job: {exc}"
    finally:
        ENQUEUE_DURATION.observe(time.perf_counter() - started)
    return None


def _accepted(request: Request, job: Job, *, replayed: bool) -> JSONResponse:
    url = status_url(request, job.job_id)
    headers = {"Location": url, "Retry-After": str(max(1, min(30, job.progress_total // 20)))}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    body = {"jobId": job.job_id, "status": job.status.value, "statusUrl": url}
    return JSONResponse(body, status_code=202, headers=headers)


async def submit(
    request: Request,
    ctx: ApiContext,
    tenant: str,
    job_type: JobType,
    options_model: type[BaseModel],
    idempotency_key: str | None,
) -> JSONResponse:
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ProblemError(
            400, "invalid-idempotency-key", "Idempotency-Key must be 1-255 visible ASCII characters"
        )
    now = datetime.now(UTC)
    limits = ctx.settings.limits_for(tenant)
    admission = Admission(limits, None)  # no quota: no ledger query
    if limits.max_active_jobs is not None or limits.monthly_image_quota is not None:
        admission = await run_in_threadpool(
            admit_before_body, ctx.services.ledger, tenant, limits, idempotency_key, now
        )
    submission = await read_submission(request, ctx.settings)
    if isinstance(submission, References):
        return await _submit_references(request, ctx, tenant, job_type, options_model, admission, submission)
    try:
        await _admit(ctx, admission, tenant, idempotency_key, len(submission.images), now)
        options = _job_options(options_model, submission)
        new = _new_job(request, tenant, job_type, options, idempotency_key)
        bind_log_context(job_id=new.job_id)
        job, created = await run_in_threadpool(
            _store_and_record, ctx, new, submission, idempotency_key is not None
        )
    except IdempotencyConflictError as exc:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "this Idempotency-Key was used with a different request body",
            jobId=exc.existing_job_id,
        ) from exc
    finally:
        submission.close()
    return await _queue(request, ctx, job, created)


async def _submit_references(
    request: Request,
    ctx: ApiContext,
    tenant: str,
    job_type: JobType,
    options_model: type[BaseModel],
    admission: Admission,
    references: References,
) -> JSONResponse:
    """A job whose photos a direct upload stored: the images are recorded where they are (nothing is
    copied), and the upload's id is the idempotency key, so an upload makes one job at most."""
    options = _options(options_model, references.options)
    referenced = await read_references(ctx, tenant, references)
    key = referenced.idempotency_key
    await _admit(ctx, admission, tenant, key, len(referenced.images), datetime.now(UTC))
    new = dataclasses.replace(
        _new_job(request, tenant, job_type, options, key),
        images=referenced.images,
        request_fingerprint=referenced.fingerprint(job_type.value, options),
    )
    bind_log_context(job_id=new.job_id, upload_id=referenced.upload_id)
    try:
        job, created = await run_in_threadpool(ctx.services.ledger.create_job, new)
    except IdempotencyConflictError as exc:
        raise ProblemError(
            409,
            "upload-already-submitted",
            "this upload was already submitted with other slots or options",
            jobId=exc.existing_job_id,
        ) from exc
    return await _queue(request, ctx, job, created)


async def _admit(
    ctx: ApiContext, admission: Admission, tenant: str, key: str | None, count: int, now: datetime
) -> None:
    """The monthly image quota, once the image count is known (a replay is never refused)."""
    if not admission.within_quota(count):
        await run_in_threadpool(admit_images, ctx.services.ledger, admission, tenant, key, count, now)


def _new_job(
    request: Request, tenant: str, job_type: JobType, options: dict[str, Any], key: str | None
) -> NewJob:
    return NewJob(
        job_id=uuid.uuid4().hex,
        tenant_id=tenant,
        type=job_type,
        images=[],
        options=options,
        request_id=request_id_of(request),
        idempotency_key=key,
    )


async def _queue(request: Request, ctx: ApiContext, job: Job, created: bool) -> JSONResponse:
    """A new job handed to the queue within the bound (else 503, the job failed); a replay as it is."""
    if not created:
        bind_log_context(job_id=job.job_id)
        _log.info("idempotent replay", status=job.status.value)
        return _accepted(request, job, replayed=True)
    JOBS.labels(type=job.type.value, status="queued").inc()
    reason = await _hand_off(ctx, job.job_id)
    if reason is not None:
        await _refuse_unqueued(request, ctx, job, reason)
    _log.info("job accepted", type=job.type.value, images=job.progress_total)
    return _accepted(request, job, replayed=False)


async def _refuse_unqueued(request: Request, ctx: ApiContext, job: Job, reason: str) -> NoReturn:
    error = problem(503, "enqueue-failed", reason, request_id=request_id_of(request), stage="enqueue")
    await run_in_threadpool(ctx.services.ledger.fail, job.job_id, error)
    JOBS.labels(type=job.type.value, status="failed").inc()
    _log.warning("enqueue failed", reason=reason)
    raise ProblemError(
        503,
        "enqueue-failed",
        f"{reason}; the job was marked failed, submit again later",
        headers={"Retry-After": str(ENQUEUE_RETRY_AFTER_S)},
        jobId=job.job_id,
    )


def _documented_body(options_model: type[BaseModel]) -> dict[str, Any]:
    """The request body for the OpenAPI document: the handlers read the stream themselves (to enforce
    limits while it arrives), so FastAPI cannot infer it."""
    options = options_model.model_json_schema()
    fields = options.get("properties", {})
    images = {"type": "array", "items": {"type": "string", "format": "binary"}}
    slots = {"type": "array", "items": {"type": "string"}, "description": "slots from POST /v1/uploads"}
    encoded = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "filename": {"type": "string"},
                "data": {"type": "string", "format": "byte"},
                "roi": {"type": "string", "description": "This image's own roi, over the job's."},
            },
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["images"],
                        "properties": {"images": images, **fields},
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "oneOf": [{"required": ["images"]}, {"required": ["uploads"]}],
                        "properties": {"images": encoded, "uploads": slots, **fields},
                    }
                },
            },
        }
    }


_GROUP_DOC = _documented_body(GroupImagesOptions)
_REMOVE_DOC = _documented_body(RemoveBackgroundOptions)
_SUBMIT_PROBLEMS = documented_problems(400, 401, 402, 403, 404, 408, 409, 410, 413, 415, 422, 429, 503)


@router.post(
    "/v1/group-images",
    status_code=202,
    name="group_images",
    responses=_SUBMIT_PROBLEMS,
    openapi_extra=_GROUP_DOC,
)
@router.post(
    "/bg-remover/group-images",
    status_code=202,
    name="group_images_alias",
    responses=_SUBMIT_PROBLEMS,
    openapi_extra=_GROUP_DOC,
)
async def group_images(
    request: Request, ctx: Context, tenant: Tenant, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Group photos of the same product (and optionally cut them out)."""
    return await submit(request, ctx, tenant, JobType.GROUP_IMAGES, GroupImagesOptions, idempotency_key)


@router.post(
    "/v1/remove-background",
    status_code=202,
    name="remove_background",
    responses=_SUBMIT_PROBLEMS,
    openapi_extra=_REMOVE_DOC,
)
async def remove_background(
    request: Request, ctx: Context, tenant: Tenant, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Cut out the subject of every photo."""
    return await submit(
        request, ctx, tenant, JobType.REMOVE_BACKGROUND, RemoveBackgroundOptions, idempotency_key
    )
