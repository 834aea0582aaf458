"""What a job's final state announces: the webhook event and the payload the outbox stores.

These are the outbox's record contents, so they live with the ledger port: every adapter writes the
same row in the transaction of a final state, and the webhook sender (``bgremover.webhooks``), a
feature above the ledger, only reads them.

The payload is deliberately small (no result, no image list): the receiver fetches the job from its
``statusUrl`` with its own credentials, so a webhook leaks nothing if its URL is ever misconfigured,
and the body stays a few hundred bytes however big the job. It holds a *relative* ``statusUrl``
(``/v1/jobs/{id}``): workers do not know the address clients use, so the sender resolves it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class WebhookEvent(StrEnum):
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_CANCELED = "job.canceled"


def event_for_status(status: str) -> WebhookEvent:
    """The event announcing that a job reached the final ``status`` (succeeded, failed, canceled)."""
    return WebhookEvent(f"job.{status}")


def utc_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (a naive value is taken as UTC): the one format of every time the
    service shows, in the job JSON and in webhooks alike."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_payload(job_id: str, tenant_id: str, status: str, occurred_at: datetime) -> dict[str, Any]:
    """The Standard Webhooks payload shape ``{"type", "timestamp", "data"}`` for a final job."""
    return {
        "type": event_for_status(status).value,
        "timestamp": utc_timestamp(occurred_at),
        "data": {
            "jobId": job_id,
            "tenantId": tenant_id,
            "status": status,
            "statusUrl": f"/v1/jobs/{job_id}",
        },
    }


def new_delivery_id() -> str:
    """The ``webhook-id`` of a message: unique, and the same for every attempt to send it."""
    return f"msg_{uuid.uuid4().hex}"
