"""The ledger port: what the API and the workers need from a job store, whatever the database.

The API writes jobs and reads them; workers claim them, record stage timings, per-image outcomes and
results; the reaper asks which jobs were lost; the webhook sender drains the outbox; the API reads the
stored API keys. Adapters (``bgremover.ledger.sql`` for SQLite and PostgreSQL,
``bgremover.ledger.dynamodb`` for DynamoDB) implement this protocol, chosen by URL in one place
(``bgremover.ledger.factory``); no caller knows which database is behind it. The record types below
belong to the port, so adapters import nothing from the features above them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

IDEMPOTENCY_TTL = timedelta(hours=24)  # how long an Idempotency-Key names its job, on every backend


def utcnow() -> datetime:
    """The ledgers' default clock (tests hand them a settable one)."""
    return datetime.now(UTC)


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
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None

    def listed(self) -> Job:
        """The job as ``list_jobs`` returns it: its result without ``groups``, which hold up to 1,000
        image ids (on DynamoDB, items of their own: a query per job) and which ``get_job`` has."""
        if self.result is None or "groups" not in self.result:
            return self
        return replace(self, result={key: value for key, value in self.result.items() if key != "groups"})


@dataclass(frozen=True, slots=True)
class ImageOutcome:
    """What a worker learned about one image; ``None`` fields are left as they were."""

    status: ImageStatus | None = None
    error: dict[str, Any] | None = None
    width: int | None = None
    height: int | None = None
    group_id: str | None = None
    outputs: dict[str, str] | None = None


class ChunkStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A slice of a big job's images (positions ``[start, stop)`` in ``list_images`` order) with a
    lease of its own, so that several workers can run one job at once (the job's lease stays with the
    coordinator, which opens the chunks and runs the final step)."""

    job_id: str
    index: int
    start: int
    stop: int
    status: ChunkStatus
    attempts: int = 0
    done: int = 0  # images of this chunk with a recorded outcome (as last reported by its worker)
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-image stage totals (finish_chunk)


class LeaseLostError(Exception):
    """The worker no longer holds the job: it was canceled, or its lease expired and another worker
    claimed it. The worker must stop working on it and write nothing more."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"lease on job {job_id} lost (canceled, or claimed by another worker)")
        self.job_id = job_id


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """A webhook in the outbox: written with a job's final state, sent (and retried) by workers."""

    delivery_id: str  # the message's webhook-id, the same for every attempt
    job_id: str
    tenant_id: str
    event: str  # job.succeeded, job.failed, job.canceled
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None
    lease_owner: str | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key (``bgr_<key_id>_<secret>``): only the SHA-256 of its secret is kept."""

    key_id: str
    tenant_id: str
    digest: str  # SHA-256 hex of the secret part; never the secret
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyStore(Protocol):
    """Persistent API keys, in the ledger's database. Revocation keeps the record (an audit trail of
    who had access, until when)."""

    def add(self, record: ApiKeyRecord) -> None: ...
    def list_keys(self, tenant_id: str | None = None) -> list[ApiKeyRecord]: ...
    def revoke(self, key_id: str) -> ApiKeyRecord | None:
        """Mark the key revoked (once: a second revocation keeps the first time); ``None`` if unknown."""
        ...

    def active_keys(self) -> list[ApiKeyRecord]: ...
    def close(self) -> None: ...


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

    def list_jobs(
        self,
        tenant_id: str,
        *,
        status: JobStatus | None = None,
        job_type: JobType | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """The tenant's jobs newest first, ordered by ``(created_at, job_id)`` descending; ``before`` is
        the ``(created_at, job_id)`` of the last job of the previous page (exclusive): keyset pages
        stay stable while new jobs arrive. Each job is ``Job.listed()``: a result without its groups."""
        ...

    def find_idempotent_job(self, tenant_id: str, idempotency_key: str) -> Job | None:
        """The tenant's job created with this key within the retention window, if any: a submit that
        would replay it must not be refused by quotas (it creates nothing)."""
        ...

    def count_active_jobs(self, tenant_id: str) -> int:
        """The tenant's queued and running jobs (the concurrent-job quota)."""
        ...

    def images_submitted_since(self, tenant_id: str, since: datetime) -> int:
        """Images in the tenant's jobs created at or after ``since`` (the monthly image quota). Jobs
        the queue never took (failed at the hand-off before any worker claimed them, the client told
        to submit again) do not count, so the retry is not charged twice."""
        ...

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

    def key_store(self) -> ApiKeyStore:
        """The stored API keys, on this ledger's own connections (closing the ledger closes them)."""
        ...

    def migrate(self) -> None:
        """Create or upgrade the schema (tables, indexes); idempotent, safe for racing starters."""
        ...

    def close(self) -> None: ...

    # --- the worker side ------------------------------------------------------------------------
    # A worker claims a job with a lease (owner, expiry) in one conditional UPDATE, so that two
    # workers, on one machine or many, never run the same job at once; every later write names the
    # owner and raises ``LeaseLostError`` once the lease is gone (canceled, or expired and re-claimed).

    def claim(self, job_id: str, owner: str, lease_seconds: float) -> Job | None:
        """Take a queued job, or a running one whose lease expired, counting the attempt; ``None``
        when it is final, canceled or leased by a live worker."""
        ...

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> None:
        """Extend the lease; raise ``LeaseLostError`` when it is no longer ours."""
        ...

    def start_stage(self, job_id: str, owner: str, stage: str) -> None: ...

    def finish_stage(self, job_id: str, owner: str, stage: str, ms: float, **detail: Any) -> None:
        """Record a finished stage's duration (and any detail) on the job."""
        ...

    def record_image(self, job_id: str, owner: str, image_id: str, outcome: ImageOutcome) -> None: ...

    def set_progress(self, job_id: str, owner: str, done: int) -> None: ...

    def succeed(self, job_id: str, owner: str, result: dict[str, Any], *, notify: bool = False) -> None:
        """Mark the job succeeded; with ``notify``, queue its webhook in the same transaction."""
        ...

    def fail_claimed(self, job_id: str, owner: str, error: dict[str, Any], *, notify: bool = False) -> None:
        """Mark a job this worker holds failed: it could not run at all (``notify``: as ``succeed``)."""
        ...

    def release(self, job_id: str, owner: str) -> None:
        """Give the job back (queued, lease cleared) so another worker can take it: graceful shutdown."""
        ...

    def get_job_for_worker(self, job_id: str) -> Job | None:
        """A job whatever its tenant: workers and the reaper act on ids from the queue."""
        ...

    # --- the reaper -------------------------------------------------------------------------------
    def reclaimable(self, queued_before: datetime, limit: int = 100) -> list[str]:
        """Ids of jobs that need re-enqueueing, oldest first: queued since before ``queued_before`` (a
        lost queue message) or running with an expired lease (a dead worker)."""
        ...

    def touch_queued(self, job_id: str) -> None:
        """Note that a queued job was (re-)enqueued, so the reaper waits a full period before again."""
        ...

    def settle_lost_attempt(self, job: Job, error: dict[str, Any], *, dead: bool) -> bool:
        """Write ``error`` (the history of lost attempts) on ``job`` only while it is still the running
        attempt the reaper read (same owner, same attempt count, lease expired by the ledger's clock);
        with ``dead``, fail it (stage and lease cleared) and queue its ``job.failed`` webhook in the
        same transaction. False, writing nothing, when anything changed meanwhile: several reapers
        and a late worker may race."""
        ...

    def count_by_status(self) -> dict[JobStatus, int]:
        """Jobs per status. Queued and running are always counted; a backend where counting the final
        states would read every job ever stored (DynamoDB) leaves those out of the dict."""
        ...

    def oldest_created_at(self, status: JobStatus) -> datetime | None:
        """When the oldest job in ``status`` was created (job age, for alerts on stuck jobs)."""
        ...

    # --- the webhook outbox ---------------------------------------------------------------------
    # Rows are written in the transaction that makes a job final (``cancel`` always writes one: the
    # API cannot read the tenant's configuration; the sender drops it where no webhook wants it).

    def claim_webhook_delivery(self, owner: str, lease_seconds: float) -> WebhookDelivery | None:
        """Take a due, pending delivery that no live sender holds (one conditional UPDATE)."""
        ...

    def record_webhook_attempt(
        self, delivery_id: str, owner: str, *, error: str | None, retry_at: datetime | None = None
    ) -> bool:
        """Delivered (no ``error``), pending until ``retry_at``, or failed (no ``retry_at``)."""
        ...

    def drop_webhook_delivery(self, delivery_id: str, owner: str) -> bool: ...

    def purge_webhook_deliveries(self, due_before: datetime, *, limit: int = 1000) -> int:
        """Delete delivered or failed rows last due before ``due_before`` (retention)."""
        ...

    def webhook_delivery(self, tenant_id: str, job_id: str) -> WebhookDelivery | None:
        """The latest webhook of a tenant's job (what the job JSON shows), or None."""
        ...

    def webhook_deliveries_of(self, job_id: str) -> list[WebhookDelivery]:
        """Every delivery of a job, oldest first (operators and tests)."""
        ...

    # --- chunks of a big job ----------------------------------------------------------------------
    # A job of many images is split into chunks that any worker may claim, each with its own lease;
    # every chunk write is also refused (``LeaseLostError``) once the job is no longer running, so a
    # cancel or a failure stops every chunk worker. The job's own lease stays with its coordinator.

    def open_chunks(self, job_id: str, owner: str, chunk_images: int) -> list[Chunk]:
        """Split the job's images into chunks of ``chunk_images`` (the last may be shorter), all
        pending, while ``owner`` holds the job's lease (else ``LeaseLostError``). Idempotent: when
        chunks exist already (an earlier coordinator made them) return those unchanged, whatever
        ``chunk_images`` is now, so a new coordinator never disturbs running chunk workers."""
        ...

    def claim_chunk(self, job_id: str, owner: str, lease_seconds: float) -> Chunk | None:
        """Take the lowest-index chunk that is pending, or running with an expired lease (by the
        ledger's clock), counting the attempt; only while the job is running. ``None`` when there is
        none to take; racing claimants never get the same chunk."""
        ...

    def heartbeat_chunk(
        self, job_id: str, index: int, owner: str, lease_seconds: float, *, done: int | None = None
    ) -> None:
        """Extend the chunk's lease (and record ``done`` if given); ``LeaseLostError`` when the chunk
        is no longer ``owner``'s or the job is no longer running."""
        ...

    def record_chunk_image(
        self, job_id: str, index: int, owner: str, image_id: str, outcome: ImageOutcome
    ) -> None:
        """``record_image`` guarded by the chunk's lease instead of the job's (same merge semantics:
        ``None`` fields left as they were); ``LeaseLostError`` as ``heartbeat_chunk``."""
        ...

    def finish_chunk(self, job_id: str, index: int, owner: str, stages: dict[str, dict[str, Any]]) -> None:
        """Mark the chunk done (``done = stop - start``), its lease cleared and its stage totals
        stored; ``LeaseLostError`` as ``heartbeat_chunk``."""
        ...

    def release_chunk(self, job_id: str, index: int, owner: str) -> bool:
        """Give a running chunk back (pending, lease cleared; its attempt stays counted) while
        ``owner`` still holds it, whatever the job's state: a supervisor saw that process die. False,
        writing nothing, otherwise."""
        ...

    def list_chunks(self, job_id: str) -> list[Chunk]:
        """The job's chunks by index (``[]`` for a job never split)."""
        ...
