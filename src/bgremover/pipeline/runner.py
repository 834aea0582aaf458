"""Runs the job whose id a queue message names: claim it with a lease, run it, record the outcome.

The queue may deliver a message twice, late, or for a job that was canceled meanwhile: the claim (one
conditional UPDATE in the ledger) decides, so a duplicate is a no-op. A job fails only when it could
not run at all (no configuration, past its time limit, out of attempts, an unexpected error); a bad
image is recorded on that image and the job carries on.

A job of more than ``chunk_images`` images is split into chunks (``pipeline.chunks``): the worker that
claims it coordinates, and a worker whose claim finds the job leased helps with its chunks instead.
Jobs of up to ``chunk_images`` images (or every job, with 0) run whole on the claiming worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bgremover.blobs.base import BlobStore
from bgremover.ledger.base import ImageRecord, Job, JobLedger, JobStatus, LeaseLostError
from bgremover.observability.logging import get_logger, log_context
from bgremover.observability.metrics import JOB_DURATION, JOBS
from bgremover.params.base import ParameterStoreError
from bgremover.params.cache import TenantConfigCache
from bgremover.params.config import TenantConfig
from bgremover.pipeline.chunks import ChunkBoard, ChunkCoordinator, ChunkLimits, ChunkWork
from bgremover.pipeline.engines import Engines
from bgremover.pipeline.errors import JobTimeLimitError, job_problem
from bgremover.pipeline.held import HeldJob
from bgremover.pipeline.image_loop import ImageSetup
from bgremover.pipeline.lease import Lease
from bgremover.pipeline.work import JobWork, image_plan
from bgremover.queue.base import Dispatcher, EnqueueError
from bgremover.resilience.transient import BACKEND_OUTAGE
from bgremover.resilience.watchdog import extend_guard

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerLimits:
    lease_s: float = 60.0
    time_limit_s: float = 900.0
    max_attempts: int = 3
    max_pixels: int = 100_000_000
    requeue_timeout_s: float = 5.0
    chunk_images: int = 50  # a job of more images is split into chunks of this many; 0: never
    chunk_poll_s: float = 0.5  # how often a coordinator with nothing to claim looks at the chunks


class JobRunner:
    """The queue's job handler in one worker process (``owner`` names that process)."""

    def __init__(
        self,
        *,
        ledger: JobLedger,
        blobs: BlobStore,
        configs: TenantConfigCache,
        engines: Engines,
        owner: str,
        limits: RunnerLimits,
        dispatcher: Dispatcher | None = None,
        board: ChunkBoard | None = None,
    ) -> None:
        """``board``: where this process posts the chunk it works on (its supervisor's claim board)."""
        self.ledger = ledger
        self.blobs = blobs
        self.configs = configs
        self.engines = engines
        self.owner = owner
        self.limits = limits
        self.dispatcher = dispatcher
        self.board = board

    def __call__(self, job_id: str) -> None:
        job = self.ledger.claim(job_id, self.owner, self.limits.lease_s)
        if job is None:  # leased by a live coordinator (help with its chunks), or canceled or final
            self._help(job_id)
            return
        with log_context(job_id=job.job_id, tenant_id=job.tenant_id, request_id=job.request_id):
            JOBS.labels(type=job.type.value, status="running").inc()
            log.info("job_started", attempt=job.attempts)
            try:
                self._run(job)
            except LeaseLostError:
                log.info("job_lease_lost")  # canceled, or taken over after our lease expired
            except KeyboardInterrupt:
                self._return_to_queue(job)
                raise

    def _run(self, job: Job) -> None:
        if job.attempts > self.limits.max_attempts:
            self._fail(job, 500, "too-many-attempts", f"the job was tried {job.attempts - 1} times", None)
            return
        try:
            config = self.configs.get(job.tenant_id)
        except ParameterStoreError as exc:
            self._fail(job, 503, "configuration-unavailable", str(exc), None)
            return
        if config.job_time_limit_s is not None:
            extend_guard(config.job_time_limit_s)  # the hard kill follows the tenant's own limit
        time_limit_s = config.job_time_limit_s or self.limits.time_limit_s
        lease = Lease(
            HeldJob(self.ledger, job.job_id, self.owner),
            lease_s=self.limits.lease_s,
            time_limit_s=time_limit_s,
        )
        setup = self._setup(job, config)
        threshold = job.options.get("threshold") or config.grouping_threshold
        work: JobWork | None = None
        try:
            images = self.ledger.list_images(job.tenant_id, job.job_id)
            chunked = self._is_chunked(job, images)
            chunks = self._coordinator(setup, images, lease, time_limit_s) if chunked else None
            work = JobWork(setup, images, lease=lease, threshold=threshold, chunks=chunks)
            with lease:  # renewed in the background while the work runs
                result = work.run()
        except JobTimeLimitError as exc:
            self._fail(job, 504, "job-time-limit", str(exc), _stage_of(work), config)
            return
        except (LeaseLostError, KeyboardInterrupt):
            raise
        except BACKEND_OUTAGE as exc:  # a blip, not the job's fault: the reaper retries it after the lease
            log.warning("job_interrupted_by_backend_outage", error=f"{type(exc).__name__}: {exc}"[:500])
            return
        except Exception as exc:
            log.exception("job_crashed")
            reason = f"{type(exc).__name__}: {exc}"
            self._fail(job, 500, "job-failed", reason, _stage_of(work), config)
            return
        self.ledger.succeed(job.job_id, self.owner, result, notify=config.wants_webhook("succeeded"))
        self._count(job, "succeeded")
        log.info("job_succeeded", **{k: v for k, v in result.items() if k != "groups"})

    def _setup(self, job: Job, config: TenantConfig) -> ImageSetup:
        plan = image_plan(job, thumbnail_size=config.thumbnail_size, max_pixels=self.limits.max_pixels)
        return ImageSetup(job, self.blobs, self.engines, plan, config.cutout_model)

    def _is_chunked(self, job: Job, images: list[ImageRecord]) -> bool:
        """More images than ``chunk_images``; or a retry of a job that an earlier coordinator split
        (with another ``chunk_images`` before a redeploy): its chunk workers may still be running, so
        it goes on in those chunks. That look costs a read on retries only."""
        if 0 < self.limits.chunk_images < len(images):
            return True
        return job.attempts > 1 and bool(self.ledger.list_chunks(job.job_id))

    def _chunk_work(
        self, setup: ImageSetup, images: list[ImageRecord] | None, time_limit_s: float
    ) -> ChunkWork:
        limits = ChunkLimits(self.limits.lease_s, time_limit_s, self.limits.max_attempts)
        return ChunkWork(setup, self.ledger, self.owner, limits, images=images, board=self.board)

    def _coordinator(
        self, setup: ImageSetup, images: list[ImageRecord], lease: Lease, time_limit_s: float
    ) -> ChunkCoordinator:
        return ChunkCoordinator(
            self._chunk_work(setup, images, time_limit_s),
            lease,
            chunk_images=self.limits.chunk_images or len(images),  # any size where the chunks exist
            poll_s=self.limits.chunk_poll_s,
            dispatcher=self.dispatcher,
            enqueue_timeout_s=self.limits.requeue_timeout_s,
        )

    def _help(self, job_id: str) -> None:
        """The job is leased: run its chunks, if it has any, until none is left to claim. Whatever
        stops a helper (cancel, an outage, its own time limit, a crash) leaves the job to its
        coordinator: an unfinished chunk's lease runs out and it is claimed again."""
        job = self.ledger.get_job_for_worker(job_id)
        if job is None or job.status is not JobStatus.RUNNING or not self._is_big_job(job):
            log.info("job_not_claimable", job_id=job_id)  # duplicate message, canceled or final
            return
        with log_context(job_id=job.job_id, tenant_id=job.tenant_id, request_id=job.request_id):
            try:
                config = self.configs.get(job.tenant_id)
                if config.job_time_limit_s is not None:
                    extend_guard(config.job_time_limit_s)
                time_limit_s = config.job_time_limit_s or self.limits.time_limit_s
                ran = self._chunk_work(self._setup(job, config), None, time_limit_s).run_all()
            except KeyboardInterrupt:
                raise
            except (ParameterStoreError, JobTimeLimitError, *BACKEND_OUTAGE) as exc:
                log.warning("chunk_help_stopped", error=f"{type(exc).__name__}: {exc}"[:500])
                return
            except Exception:
                log.exception("chunk_crashed")
                return
            log.info("chunk_help_done", chunks=ran)

    def _is_big_job(self, job: Job) -> bool:
        """Whether the job may have chunks to help with (from its total, without reading its images)."""
        return self.limits.chunk_images > 0 and job.progress_total > self.limits.chunk_images

    def _fail(
        self,
        job: Job,
        status: int,
        slug: str,
        detail: str,
        stage: str | None,
        config: TenantConfig | None = None,
    ) -> None:
        """``config`` None: the tenant's webhook settings are unknown; the outbox row is written and
        the sender, which reads them, decides."""
        error = job_problem(status, slug, detail, stage=stage, request_id=job.request_id)
        notify = config is None or config.wants_webhook("failed")
        self.ledger.fail_claimed(job.job_id, self.owner, error, notify=notify)
        self._count(job, "failed")
        log.warning("job_failed", reason=slug, detail=detail, stage=stage)

    def _count(self, job: Job, status: str) -> None:
        JOBS.labels(type=job.type.value, status=status).inc()
        JOB_DURATION.labels(type=job.type.value, status=status).observe(
            (datetime.now(UTC) - job.created_at).total_seconds()
        )

    def _return_to_queue(self, job: Job) -> None:
        """Interrupted (shutdown without grace): give the job back and enqueue it again, so another
        worker takes it now rather than after the lease expires."""
        try:
            self.ledger.release(job.job_id, self.owner)
            if self.dispatcher is not None:
                self.dispatcher.enqueue(job.job_id, timeout=self.limits.requeue_timeout_s)
            log.info("job_returned_to_queue")
        except (LeaseLostError, EnqueueError) as exc:
            log.warning("job_return_failed", error=str(exc))  # the reaper will find it


def worker_owner(hostname: str, pid: int) -> str:
    """A lease owner unique to this process and start, readable in the ledger."""
    return f"{hostname}:{pid}:{int(time.time())}"


def _stage_of(work: JobWork | None) -> str | None:
    """The stage a failed job was in: the work knows it (no ledger read back of what it just wrote)."""
    return None if work is None else work.current_stage.current
