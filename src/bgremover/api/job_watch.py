"""Follow jobs for event streams, from the ledger alone: one shared poller per API process.

Every open ``GET /v1/jobs/{id}/events`` stream subscribes here. One background task reads every
*watched job* once per ``interval_s`` (``BGR_EVENTS_POLL_S``) and wakes the streams that follow a job
only when its status, stage or progress changed. A ledger that reads many jobs at once
(``BatchJobReader``: the SQL ledger, two statements per thousand jobs) is asked once a tick; another one
once per watched job. Either way the cost does not grow with the number of streams on a job, and is nil
while no stream is open. It reads the ledger, never the workers, so it works on every backend and behind
any number of API processes (each polls for its own streams).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from starlette.concurrency import run_in_threadpool

from bgremover.ledger.base import Job, JobLedger
from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import EVENT_POLLER_READS, EVENT_STREAMS

_log = get_logger(__name__)
_Key = tuple[str, str]  # (tenant, job id)


@runtime_checkable
class BatchJobReader(Protocol):
    """A ledger that reads many tenants' jobs in one go (an optional capability, not the port)."""

    def get_jobs(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Job]: ...


def signature(job: Job) -> tuple[object, ...]:
    """What a stream reports a change of: status, stage and progress (and the attempt, so a retried job
    that starts over is announced)."""
    return (job.attempts, job.status, job.stage, job.progress_done, job.progress_total)


@dataclass(slots=True)
class _Watched:
    job: Job
    version: int = 0
    subscribers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, job: Job) -> None:
        """Keep the latest read; wake the streams only when what they report changed."""
        changed = signature(job) != signature(self.job)
        self.job = job
        if changed:
            self.version += 1
            self.changed.set()  # wakes every stream waiting on this version...
            self.changed = asyncio.Event()  # ...and the next change gets a fresh event


class JobWatcher:
    """Shared by all the event streams of one API process (one per app)."""

    def __init__(self, ledger: JobLedger, interval_s: float) -> None:
        self._ledger = ledger
        self._interval_s = interval_s
        self._watched: dict[_Key, _Watched] = {}
        self._poller: asyncio.Task[None] | None = None

    async def follow(self, tenant: str, job: Job) -> AsyncIterator[Job]:
        """``job`` at once, then the job each time it changes; ends after its final state."""
        key = (tenant, job.job_id)
        watched = self._watched.get(key)
        if watched is None:
            watched = self._watched[key] = _Watched(job)
        elif job.updated_at > watched.job.updated_at:
            watched.update(job)  # the caller's read is newer than the poller's last one
        watched.subscribers += 1
        EVENT_STREAMS.inc()
        self._ensure_polling()
        try:
            current = watched.job
            yield current
            while not current.status.is_final:
                seen = watched.version
                while watched.version == seen:
                    await watched.changed.wait()
                current = watched.job
                yield current
        finally:
            EVENT_STREAMS.dec()
            watched.subscribers -= 1
            if watched.subscribers == 0 and self._watched.get(key) is watched:
                del self._watched[key]

    def _ensure_polling(self) -> None:
        loop = asyncio.get_running_loop()  # one in a server; a test client may run one per request
        if self._poller is None or self._poller.done() or self._poller.get_loop() is not loop:
            self._poller = loop.create_task(self._poll(), name="job-watch")

    async def _poll(self) -> None:
        while self._watched:
            await asyncio.sleep(self._interval_s)
            keys = list(self._watched)
            try:
                fresh = await run_in_threadpool(self._read, keys)
            except Exception as exc:  # a ledger outage: streams stay open, the next tick retries
                _log.warning("job watch poll failed", error=str(exc), jobs=len(keys))
                continue
            for key, job in fresh.items():
                watched = self._watched.get(key)
                if watched is not None and job is not None:
                    watched.update(job)

    def _read(self, keys: list[_Key]) -> dict[_Key, Job | None]:
        if isinstance(self._ledger, BatchJobReader):
            EVENT_POLLER_READS.inc()
            return dict(self._ledger.get_jobs(keys))
        EVENT_POLLER_READS.inc(len(keys))
        return {key: self._ledger.get_job(*key) for key in keys}

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
