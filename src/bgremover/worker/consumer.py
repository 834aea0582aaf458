"""The worker side of the service: ``bg-remover worker`` and the workers that ``serve`` starts.

One Huey consumer (the project's recycling consumer: replaces dead workers, memory ceiling, a hard
per-job watchdog) with N process workers at lower CPU priority than the API, plus the reaper as a
periodic task. Shutdown, whatever the queue backend:

- SIGTERM (graceful): workers take no new job, finish the one in flight within
  ``BGR_SHUTDOWN_GRACE_S``; a job still running then is interrupted and returned to the queue.
- SIGINT (Ctrl-C): in-flight jobs are interrupted at once and returned to the queue (released in the
  ledger and enqueued again), so another worker picks them up without waiting for the lease to expire.

A worker that dies mid-job (SIGKILL, OOM, a native crash, the watchdog) is noticed by the consumer
within its one-second health check; the job it had posted on the ``ClaimBoard`` is retried at once
(``Reaper.retry_now``), not after its lease, and the chunk of a big job it was running is given back
(``release_chunk``) for the job's coordinator to take within a poll. The lease stays the fallback for
a vanished machine.
"""

from __future__ import annotations

import os

import psutil

from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import WORKER_DEATHS
from bgremover.queue.base import Dispatcher, EnqueueError
from bgremover.queue.huey_queue import TASK_NAME, HueyDispatcher
from bgremover.resilience.claims import Claim, ClaimBoard, install_claim_board
from bgremover.resilience.reaper import Reaper, RetryPolicy
from bgremover.resilience.recycle import RecyclingConsumer, install_watchdog
from bgremover.resilience.transient import BACKEND_OUTAGE
from bgremover.resilience.watchdog import HARD_LIMIT_FACTOR
from bgremover.settings import Settings
from bgremover.worker.runtime import WorkerRuntime

log = get_logger(__name__)

WORKER_NICENESS = 10  # below the API (0): inference must never starve the request path
MEMORY_PER_WORKER = 1024**3  # models, a decoded photo and its masks, with headroom


def default_worker_count() -> int:
    """Fit to the machine: one core left for the API, and enough memory for every worker."""
    cores = len(os.sched_getaffinity(0))
    by_memory = int(psutil.virtual_memory().available // MEMORY_PER_WORKER)
    return max(1, min(cores - 1, by_memory))


def build_consumer(settings: Settings, workers: int) -> RecyclingConsumer:
    claims = ClaimBoard()
    runtime = WorkerRuntime(settings, board=claims)
    dispatcher = HueyDispatcher.from_url(settings.queue_url, runtime.handle, name=settings.queue_name)
    huey = dispatcher.huey
    huey.on_startup(name="bgr-runtime-start")(runtime.start)
    huey.on_shutdown(name="bgr-runtime-stop")(runtime.stop)
    reap = huey.task(name="reap")(runtime.reap)  # enqueued every BGR_REAPER_INTERVAL_S below
    install_watchdog(huey, settings.job_time_limit_s * HARD_LIMIT_FACTOR)
    install_claim_board(huey, claims, TASK_NAME, lambda: runtime.runner.owner)
    return RecyclingConsumer(
        huey,
        workers=workers,
        worker_type="process",
        periodic=True,
        max_delay=1.0,  # an idle worker polls an SQLite queue at least every second
        graceful_signal="TERM",
        shutdown_timeout=settings.shutdown_grace_s,
        every=[(reap, settings.reaper_interval_s)],
        max_tasks=settings.worker_max_jobs,
        memory_ceiling_bytes=settings.worker_memory_ceiling_mb and settings.worker_memory_ceiling_mb * 2**20,
        claims=claims,
        on_orphan=OrphanRetry(settings, dispatcher),
    )


class OrphanRetry:
    """In the consumer: a dead worker's job retried at once. The ledger is opened for the occasion and
    closed before the replacement worker is forked, so no connection is ever shared across a fork."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher) -> None:
        self._settings = settings
        self._dispatcher = dispatcher

    def __call__(self, claim: Claim, exitcode: int | None) -> None:
        ledger = ledger_from_url(self._settings.database_url, migrate=False)
        try:
            outcome = self._chunk(ledger, claim) if claim.chunk is not None else self._job(ledger, claim)
        except (*BACKEND_OUTAGE, EnqueueError) as exc:  # the lease expires and a reaper takes over
            WORKER_DEATHS.labels(outcome="unreachable").inc()
            log.warning("orphan_retry_failed", job_id=claim.job_id, error=f"{type(exc).__name__}: {exc}")
            return
        finally:
            ledger.close()
        WORKER_DEATHS.labels(outcome=outcome).inc()
        log.warning(
            "worker_died_mid_job",
            job_id=claim.job_id,
            chunk=claim.chunk,
            pid=claim.pid,
            exitcode=exitcode,
            outcome=outcome,
        )

    def _job(self, ledger: JobLedger, claim: Claim) -> str:
        reaper = Reaper(ledger, self._dispatcher, RetryPolicy.from_settings(self._settings))
        report = reaper.retry_now(claim.job_id, claim.owner)
        return "requeued" if report.requeued else "dead" if report.dead else "gone"

    @staticmethod
    def _chunk(ledger: JobLedger, claim: Claim) -> str:
        """A chunk given back is claimable at once: its job's coordinator takes it within a poll (and
        counts the attempt), so nothing is enqueued."""
        assert claim.chunk is not None
        return "released" if ledger.release_chunk(claim.job_id, claim.chunk, claim.owner) else "gone"


def run_workers(settings: Settings, workers: int | None = None) -> None:
    """Migrate the ledger, lower this process's priority (the workers inherit it), run until a signal."""
    count = workers or settings.workers or default_worker_count()
    ledger_from_url(settings.database_url, migrate=settings.database_migrate).close()
    # Share the cores between the workers instead of each ONNX session taking all of them.
    os.environ.setdefault("BGR_ORT_THREADS", str(max(1, len(os.sched_getaffinity(0)) // count)))
    os.nice(WORKER_NICENESS)
    log.info("workers_starting", workers=count, queue=settings.queue_url.split("://", 1)[0])
    build_consumer(settings, count).run()
