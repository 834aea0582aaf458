"""One big job, many workers: its images in chunks (``BGR_JOB_CHUNK_IMAGES`` each) that any worker
may claim, each under its own lease, and one coordinator that runs the final step once all are done.

The worker that claims the job is its coordinator: it opens the chunks (idempotent: a coordinator that
takes over from a dead one finds the same chunks, and the chunk workers carry on undisturbed), asks the
queue for helpers (the job id again, once per chunk beyond the first), and then claims and runs chunks
itself like any worker. When none is left to claim it polls the chunks, moving the job's progress from
their ``done`` and taking over any chunk whose lease ran out (``claim_chunk`` hands it over), until
every chunk is done; the job's images are then all recorded and ``JobWork`` resumes past them into
grouping and the result. A helper (a worker whose ``claim`` of the job found it leased) runs chunks
until none is claimable, then returns. Cancel or a failed job ends every chunk lease with it: the
helpers' next write raises ``LeaseLostError`` and they stop.

A chunk tried more than ``max_attempts`` times (it may hold an image that kills its worker) has its
unfinished images failed with ``too-many-attempts`` and is done: one bad image never fails the job.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bgremover.ledger.base import Chunk, ChunkStatus, ImageRecord, JobLedger, LeaseLostError
from bgremover.observability.logging import get_logger
from bgremover.pipeline.held import HeldChunk
from bgremover.pipeline.image_loop import ImageLoop, ImageSetup
from bgremover.pipeline.lease import Lease
from bgremover.pipeline.timing import StageTimer
from bgremover.problems import problem
from bgremover.queue.base import Dispatcher, EnqueueError
from bgremover.resilience.transient import BACKEND_OUTAGE

log = get_logger(__name__)

MAX_HELPER_MESSAGES = 64  # more helpers than a cluster has workers would only claim nothing and go


class ChunkBoard(Protocol):
    """Told which chunk this process works on: the supervisor's claim board (``resilience.claims``),
    so a worker's death gives its chunk back at once instead of after the chunk's lease."""

    def post_chunk(self, job_id: str, index: int, owner: str) -> None: ...

    def post_chunk_free(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ChunkLimits:
    lease_s: float
    time_limit_s: float  # a helper's own bound; the coordinator holds the job to the job's
    max_attempts: int


class ChunkWork:
    """Claims and runs the chunks of one job in this process, as a helper or as the coordinator."""

    def __init__(
        self,
        setup: ImageSetup,
        ledger: JobLedger,
        owner: str,
        limits: ChunkLimits,
        *,
        images: list[ImageRecord] | None = None,
        board: ChunkBoard | None = None,
    ) -> None:
        self._setup = setup
        self.job = setup.job
        self._ledger = ledger
        self.owner = owner
        self._limits = limits
        self._images = images  # the job's records (None: read when the first chunk is claimed)
        self._board = board

    def run_all(self) -> int:
        """A helper's loop: chunks until none is claimable; how many it ran."""
        ran = 0
        while self.run_next(StageTimer(self.job.type.value)):
            ran += 1
        return ran

    def run_next(self, timer: StageTimer, job_progress: Callable[[int, int], None] | None = None) -> bool:
        """Claim the next chunk and run it to its end, timed on ``timer``; ``job_progress(index, done)``
        is told each image done. Whether there was one to claim. A chunk whose lease was lost (it
        lapsed and another worker took it over, or the job ended) is left there: the next claim says
        whether the job still runs."""
        chunk = self._ledger.claim_chunk(self.job.job_id, self.owner, self._limits.lease_s)
        if chunk is None:
            return False
        if self._board is not None:
            self._board.post_chunk(chunk.job_id, chunk.index, self.owner)
        try:
            self._run(chunk, timer, job_progress)
        except LeaseLostError:
            log.info("chunk_lease_lost", chunk=chunk.index)
        except KeyboardInterrupt:
            self._give_back(chunk)
            raise
        finally:
            if self._board is not None:
                self._board.post_chunk_free()
        return True

    def _run(self, chunk: Chunk, timer: StageTimer, job_progress: Callable[[int, int], None] | None) -> None:
        on_report = None if job_progress is None else functools.partial(job_progress, chunk.index)
        held = HeldChunk(self._ledger, chunk, self.owner, on_report)
        lease = Lease(held, lease_s=self._limits.lease_s, time_limit_s=self._limits.time_limit_s)
        loop = ImageLoop(self._setup, lease, timer)
        records = self._records(chunk)
        log.info("chunk_started", chunk=chunk.index, attempt=chunk.attempts, images=len(records))
        with lease:  # renewed in the background while the images run
            if chunk.attempts > self._limits.max_attempts:
                loop.give_up(records, functools.partial(self._too_many_attempts, chunk))
                log.warning("chunk_gave_up", chunk=chunk.index, attempts=chunk.attempts)
            else:
                loop.run(records)
        self._ledger.finish_chunk(chunk.job_id, chunk.index, self.owner, loop.per_image_totals())

    def _records(self, chunk: Chunk) -> list[ImageRecord]:
        """The chunk's image records: read once a chunk is claimed (a helper that finds none reads
        nothing), and afresh for a retried chunk (its earlier attempt recorded some, which are skipped)."""
        if self._images is None or chunk.attempts > 1:
            self._images = self._ledger.list_images(self.job.tenant_id, self.job.job_id)
        return self._images[chunk.start : chunk.stop]

    def _too_many_attempts(self, chunk: Chunk, record: ImageRecord) -> dict[str, Any]:
        detail = f"the chunk holding this image was tried {chunk.attempts - 1} times"
        return problem(
            500, "too-many-attempts", detail, request_id=self.job.request_id, imageId=record.image_id
        )

    def _give_back(self, chunk: Chunk) -> None:
        """Interrupted (shutdown without grace): the chunk is claimable at once, not after its lease."""
        with contextlib.suppress(LeaseLostError, *BACKEND_OUTAGE):
            self._ledger.release_chunk(chunk.job_id, chunk.index, self.owner)


class ChunkCoordinator:
    """The chunk phase of a big job, run by the worker that holds the job's ``lease``
    (``JobWork``'s ``ChunkPhase``)."""

    def __init__(
        self,
        work: ChunkWork,
        lease: Lease,
        *,
        chunk_images: int,
        poll_s: float,
        dispatcher: Dispatcher | None,
        enqueue_timeout_s: float,
    ) -> None:
        self._work = work
        self._lease = lease
        self._ledger = lease.ledger
        self._job_id = lease.job_id
        self._chunk_images = chunk_images
        self._poll_s = poll_s
        self._dispatcher = dispatcher
        self._enqueue_timeout_s = enqueue_timeout_s
        self._done: dict[int, int] = {}  # chunk index -> its images done, as last seen

    def run(self, timer: StageTimer) -> list[ImageRecord]:
        chunks = self._ledger.open_chunks(self._job_id, self._lease.owner, self._chunk_images)
        self._see(chunks)
        self._call_helpers(sum(chunk.status is not ChunkStatus.DONE for chunk in chunks) - 1)
        while True:
            self._lease.checkpoint()
            if self._work.run_next(timer.part(), self._progress):
                continue
            chunks = self._ledger.list_chunks(self._job_id)
            self._see(chunks)
            if all(chunk.status is ChunkStatus.DONE for chunk in chunks):
                break
            time.sleep(self._poll_s)
        for chunk in chunks:
            for stage, total in chunk.stages.items():
                timer.add(stage, total["ms"], total.get("images", 0))
        log.info("chunks_done", chunks=len(chunks))
        return self._ledger.list_images(self._work.job.tenant_id, self._job_id)

    def _see(self, chunks: list[Chunk]) -> None:
        """The chunks as listed: the job's progress moves when their ``done`` did."""
        before = sum(self._done.values())
        self._done = {chunk.index: chunk.done for chunk in chunks}
        if sum(self._done.values()) != before:
            self._lease.checkpoint(sum(self._done.values()))

    def _progress(self, index: int, done: int) -> None:
        """One of the coordinator's own chunk's images done: the job's progress at once."""
        self._done[index] = done
        self._lease.checkpoint(sum(self._done.values()))

    def _call_helpers(self, count: int) -> None:
        """The job id again on the queue, once per chunk beyond the coordinator's own (bounded). Best
        effort: a message not sent only means fewer hands; the coordinator runs every chunk if need be."""
        if self._dispatcher is None:
            return
        sent = 0
        for _ in range(min(count, MAX_HELPER_MESSAGES)):
            try:
                self._dispatcher.enqueue(self._job_id, timeout=self._enqueue_timeout_s)
            except EnqueueError as exc:
                log.warning("chunk_helpers_not_called", sent=sent, error=str(exc))
                return
            sent += 1
        log.info("chunk_helpers_called", sent=sent)
