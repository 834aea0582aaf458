"""The job JSON of PRODUCT.md. URLs are an HTTP concern, so they are made here from blob-free ids;
the worker stores only what it computed (groups, per-image outcomes and output keys)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from bgremover.ledger.base import ImageRecord, Job, WebhookDelivery
from bgremover.webhooks.events import utc_timestamp

OUTPUT_KINDS = ("thumbnail", "cutout", "mask")


def status_url(request: Request, job_id: str) -> str:
    return str(request.url_for("get_job", job_id=job_id))


def _image_url(request: Request, job_id: str, image_id: str, kind: str) -> str:
    return str(request.url_for("get_image_blob", job_id=job_id, image_id=image_id, kind=kind))


def image_json(request: Request, image: ImageRecord) -> dict[str, Any]:
    urls = {
        f"{kind}Url": _image_url(request, image.job_id, image.image_id, kind)
        if kind in image.outputs
        else None
        for kind in OUTPUT_KINDS
    }
    return {
        "imageId": image.image_id,
        "filename": image.filename,
        "status": image.status.value,
        "error": image.error,
        "width": image.width,
        "height": image.height,
        "groupId": image.group_id,
        "originalUrl": _image_url(request, image.job_id, image.image_id, "original"),
        **urls,
    }


def webhook_json(delivery: WebhookDelivery | None) -> dict[str, Any] | None:
    """Where the job's webhook stands: pending (with ``attempts`` so far), delivered or failed."""
    if delivery is None:
        return None
    return {
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "lastError": delivery.last_error,
        "deliveredAt": utc_timestamp(delivery.delivered_at) if delivery.delivered_at else None,
    }


def _job_state(job: Job) -> dict[str, Any]:
    """What the job row itself says: shared by the job's document and its list item, so they cannot
    drift apart."""
    return {
        "jobId": job.job_id,
        "tenantId": job.tenant_id,
        "type": job.type.value,
        "status": job.status.value,
        "stage": job.stage,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "stages": job.stages,
        "attempts": job.attempts,
        "createdAt": utc_timestamp(job.created_at),
        "updatedAt": utc_timestamp(job.updated_at),
        "error": job.error,
    }


def job_json(
    request: Request, job: Job, images: list[ImageRecord] | None, webhook: WebhookDelivery | None = None
) -> dict[str, Any]:
    """``images`` are listed in the result once the worker has stored one (``None`` skips them);
    ``webhook`` is null while the job runs and for tenants without a webhook."""
    result = None
    if job.result is not None:
        result = {**job.result, "images": [image_json(request, image) for image in images or []]}
    return {**_job_state(job), "result": result, "webhook": webhook_json(webhook)}


def job_summary_json(request: Request, job: Job) -> dict[str, Any]:
    """A job as ``GET /v1/jobs`` lists it: the job row's state and counts and a link to its document,
    but no per-image results, groups or webhook. Those are read per job (up to 1,000 image records
    each); a list item costs nothing beyond the page's own read, like Stripe's or GitHub's lists."""
    counts = None
    if job.result is not None:
        counts = {"succeeded": job.result.get("succeeded"), "failed": job.result.get("failed")}
    return {**_job_state(job), "imageCounts": counts, "statusUrl": status_url(request, job.job_id)}
