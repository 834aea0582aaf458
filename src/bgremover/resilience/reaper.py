"""The reaper: the ledger, not the queue, is the source of truth, so a periodic pass finds jobs that a
lost queue message or a dead worker left behind and hands them out again.

- A job queued for longer than ``queued_grace_s`` lost its message (Redis restarted, the enqueue timed
  out after the job was stored): it is enqueued again.
- A running job whose lease expired lost its worker (killed, out of memory, cut off by the watchdog):
  the lost attempt is written into the job's history, and after a backoff that doubles with every
  attempt the job is enqueued again; a worker's ``claim`` takes it over and counts the attempt.
- A running job whose worker is known dead (its supervisor on the same machine saw it exit, see
  :mod:`bgremover.resilience.claims`) is retried at once (``retry_now``): its lease is ended, the lost
  attempt written, the job enqueued without backoff. The lease stays the fallback for a machine that
  vanished with its supervisor.
- A job that has used ``max_attempts`` is failed as dead, with the history of its lost attempts, so
  one poison image cannot kill workers forever.
- Webhook deliveries that ended (delivered or failed) longer than ``webhook_retention`` ago are
  deleted, a batch per pass, so the outbox does not grow forever; the job's JSON then shows no webhook.

While a job is being retried its ``error`` is a problem object listing the lost attempts; success
clears it. Every write here is one conditional write (same owner, lease still expired, same attempt),
so several reapers (one per worker node) and a late worker can race safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bgremover.ledger.base import Job, JobLedger, JobStatus, LeaseLostError, utcnow
from bgremover.observability.logging import get_logger
from bgremover.problems import problem
from bgremover.queue.base import Dispatcher, EnqueueError

if TYPE_CHECKING:
    from bgremover.settings import Settings

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_s: float = 10.0
    backoff_max_s: float = 600.0
    queued_grace_s: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.job_max_attempts,
            backoff_s=settings.retry_backoff_s,
            queued_grace_s=settings.queued_grace_s,
        )

    def backoff(self, attempts: int) -> timedelta:
        """Wait before attempt ``attempts + 1``: ``backoff_s``, doubled per attempt, capped."""
        return timedelta(seconds=min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempts - 1)))


@dataclass(slots=True)
class ReapReport:
    requeued: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    backing_off: list[str] = field(default_factory=list)
    purged_webhooks: int = 0


def lost_attempts(job: Job) -> list[dict[str, Any]]:
    """The history of lost attempts the reaper has written into a job's error."""
    return list((job.error or {}).get("attempts", []))


class Reaper:
    def __init__(
        self,
        ledger: JobLedger,
        dispatcher: Dispatcher,
        policy: RetryPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
        enqueue_timeout_s: float = 5.0,
        batch: int = 500,
        webhook_retention: timedelta | None = None,
    ) -> None:
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._policy = policy
        self._now = clock
        self._enqueue_timeout_s = enqueue_timeout_s
        self._batch = batch
        self._webhook_retention = webhook_retention

    def run_once(self) -> ReapReport:
        now = self._now()
        report = ReapReport()
        grace = timedelta(seconds=self._policy.queued_grace_s)
        for job_id in self._ledger.reclaimable(queued_before=now - grace, limit=self._batch):
            job = self._ledger.get_job_for_worker(job_id)
            if job is None or job.status.is_final:
                continue
            try:
                if job.status is JobStatus.QUEUED:
                    self._requeue_queued(job, report)
                else:
                    self._handle_expired(job, now, report)
            except EnqueueError as exc:
                _log.warning("reaper.enqueue_failed", job_id=job_id, error=str(exc))
        if self._webhook_retention is not None:
            report.purged_webhooks = self._ledger.purge_webhook_deliveries(now - self._webhook_retention)
        if report.requeued or report.dead or report.purged_webhooks:
            _log.info(
                "reaper.pass",
                requeued=len(report.requeued),
                dead=len(report.dead),
                purged_webhooks=report.purged_webhooks,
            )
        return report

    def retry_now(self, job_id: str, owner: str) -> ReapReport:
        """``owner``, which held ``job_id``, is dead: end its lease and retry the job now, counting the
        attempt (or fail it as dead after ``max_attempts``). Nothing happens when the job finished,
        was given back or was taken over meanwhile."""
        report = ReapReport()
        try:
            # A renewal that ends the lease a second ago: the same conditional write (this owner, still
            # running) on every ledger, so only the dead owner's own claim is ended.
            self._ledger.heartbeat(job_id, owner, -1.0)
        except LeaseLostError:
            return report
        job = self._ledger.get_job_for_worker(job_id)
        if job is not None and job.status is JobStatus.RUNNING and job.lease_owner == owner:
            self._handle_expired(job, self._now(), report, immediate=True)
        return report

    def _requeue_queued(self, job: Job, report: ReapReport) -> None:
        self._dispatcher.enqueue(job.job_id, timeout=self._enqueue_timeout_s)
        self._ledger.touch_queued(job.job_id)
        report.requeued.append(job.job_id)

    def _handle_expired(
        self, job: Job, now: datetime, report: ReapReport, *, immediate: bool = False
    ) -> None:
        history = lost_attempts(job)
        entry = next((e for e in history if e["attempt"] == job.attempts), None)
        first_sight = entry is None
        if entry is None:
            entry = {
                "attempt": job.attempts,
                "worker": job.lease_owner,
                "leaseExpiredAt": job.lease_expires_at.isoformat() if job.lease_expires_at else None,
                "requeuedAt": None,
            }
            history.append(entry)
        if job.attempts >= self._policy.max_attempts:
            if self._ledger.settle_lost_attempt(job, self._dead_problem(job, history), dead=True):
                report.dead.append(job.job_id)
            return
        if not immediate and not self._due(job, entry, now):
            if first_sight:
                self._ledger.settle_lost_attempt(job, self._retry_problem(job, history), dead=False)
            report.backing_off.append(job.job_id)
            return
        entry["requeuedAt"] = now.isoformat()
        if self._ledger.settle_lost_attempt(job, self._retry_problem(job, history), dead=False):
            self._dispatcher.enqueue(job.job_id, timeout=self._enqueue_timeout_s)
            report.requeued.append(job.job_id)

    def _due(self, job: Job, entry: dict[str, Any], now: datetime) -> bool:
        """Past the backoff, and not re-enqueued within the last ``queued_grace_s`` (that message may
        still be waiting behind others)."""
        assert job.lease_expires_at is not None
        if now < job.lease_expires_at + self._policy.backoff(job.attempts):
            return False
        last = entry["requeuedAt"]
        grace = timedelta(seconds=self._policy.queued_grace_s)
        return last is None or datetime.fromisoformat(last) <= now - grace

    def _retry_problem(self, job: Job, history: list[dict[str, Any]]) -> dict[str, Any]:
        return problem(
            503,
            "attempt-lost",
            f"attempt {job.attempts} of {self._policy.max_attempts} was lost (its worker stopped "
            "renewing the lease); the job will be retried",
            attempts=history,
        )

    def _dead_problem(self, job: Job, history: list[dict[str, Any]]) -> dict[str, Any]:
        return problem(
            500,
            "job-dead",
            f"the job was abandoned after {job.attempts} attempts, each lost with its worker (killed, "
            "out of memory or over the time limit)",
            attempts=history,
        )
