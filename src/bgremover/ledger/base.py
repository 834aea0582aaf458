"""The ledger port: what the API and the workers need from a job store, whatever the database.

The API writes jobs and reads them; workers claim them, record stage timings, per-image outcomes and
results. Adapters (``bgremover.ledger.sql`` for SQLite and PostgreSQL) implement this protocol; no
caller knows which database is behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class JobType(StrEnum):
    GROUP_IMAGES = "group-images"
    REMOVE_BACKGROUND = "remove-background"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}


class ImageStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class IdempotencyConflictError(Exception):
    """The idempotency key was used before by this tenant with a different request body."""

    def __init__(self, existing_job_id: str) -> None:
        super().__init__(f"idempotency key already used for job {existing_job_id} with another body")
        self.existing_job_id = existing_job_id


@dataclass(frozen=True, slots=True)
class NewImage:
    """An uploaded image, already stored as a blob, as the API hands it to the ledger."""

    image_id: str
    filename: str
    blob_key: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class NewJob:
    """Everything the API knows about a job when it accepts it."""

    job_id: str
    tenant_id: str
    type: JobType
    images: list[NewImage]
    options: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image of a job and its own outcome: one bad image never fails the job."""

    image_id: str
    job_id: str
    filename: str
    blob_key: str
    content_type: str
    size_bytes: int
    status: ImageStatus = ImageStatus.PENDING
    error: dict[str, Any] | None = None
    width: int | None = None
    height: int | None = None
    group_id: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # kind (thumbnail, cutout, mask) -> blob key


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored. ``stages`` maps a stage name to ``{"ms": float, ...}`` once it has finished."""

    job_id: str
    tenant_id: str
    type: JobType
    status: JobStatus
    stage: str | None
    progress_done: int
    progress_total: int
    stages: dict[str, dict[str, Any]]
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    request_id: str | None = None


class JobLedger(Protocol):
    """The operations both sides of the service rely on.

    Every read on behalf of a client is scoped by tenant: a job of another tenant is simply absent.
    """

    # --- the API side -------------------------------------------------------------------------
    def create_job(self, new: NewJob) -> tuple[Job, bool]:
        """Store a queued job with its images in one transaction.

        With an idempotency key already used by this tenant (within its retention window) and the same
        fingerprint, return ``(existing_job, False)``; with another fingerprint raise
        ``IdempotencyConflictError``. Otherwise return ``(job, True)``.
        """
        ...

    def get_job(self, tenant_id: str, job_id: str) -> Job | None: ...

    def list_images(self, tenant_id: str, job_id: str) -> list[ImageRecord]: ...

    def get_image(self, tenant_id: str, job_id: str, image_id: str) -> ImageRecord | None: ...

    def cancel(self, tenant_id: str, job_id: str) -> Job | None:
        """Mark a queued or running job canceled (workers see it and stop); final jobs are left as is."""
        ...

    def fail(self, job_id: str, error: dict[str, Any]) -> None:
        """Mark a job failed with a problem object (used when the hand-off to the queue fails)."""
        ...

    def ping(self) -> None:
        """Raise if the database cannot be reached (readiness)."""
        ...
