"""What a worker holds under a lease, and writes through: a whole job (today's single claim) or one
chunk of a big job. The image loop, the lease and the descriptor writing are the same for both; only
the ledger calls differ (``heartbeat`` / ``record_image`` / ``set_progress`` against the job's lease,
``heartbeat_chunk`` / ``record_chunk_image`` against the chunk's), so they live here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bgremover.ledger.base import Chunk, ImageOutcome, JobLedger


class Held(Protocol):
    """Every write names the owner and raises ``LeaseLostError`` once the hold is gone."""

    ledger: JobLedger
    job_id: str
    owner: str

    def renew(self, lease_s: float) -> None: ...

    def report(self, done: int, lease_s: float) -> None:
        """``done`` of the held images have a recorded outcome."""
        ...

    def record(self, image_id: str, outcome: ImageOutcome) -> None: ...


class HeldJob:
    """The job's own claim: progress is the job's."""

    def __init__(self, ledger: JobLedger, job_id: str, owner: str) -> None:
        self.ledger = ledger
        self.job_id = job_id
        self.owner = owner

    def renew(self, lease_s: float) -> None:
        self.ledger.heartbeat(self.job_id, self.owner, lease_s)

    def report(self, done: int, lease_s: float) -> None:
        self.ledger.set_progress(self.job_id, self.owner, done)

    def record(self, image_id: str, outcome: ImageOutcome) -> None:
        self.ledger.record_image(self.job_id, self.owner, image_id, outcome)


class HeldChunk:
    """One chunk's claim: its ``done`` rides on a renewal (one write, as ``set_progress`` is for a job);
    the coordinator sums the chunks' into the job's progress. ``on_report``: the coordinator's own
    chunk also moves the job's progress at once (it holds the job's lease too)."""

    def __init__(
        self, ledger: JobLedger, chunk: Chunk, owner: str, on_report: Callable[[int], None] | None = None
    ) -> None:
        self.ledger = ledger
        self.job_id = chunk.job_id
        self.index = chunk.index
        self.owner = owner
        self._on_report = on_report

    def renew(self, lease_s: float) -> None:
        self.ledger.heartbeat_chunk(self.job_id, self.index, self.owner, lease_s)

    def report(self, done: int, lease_s: float) -> None:
        self.ledger.heartbeat_chunk(self.job_id, self.index, self.owner, lease_s, done=done)
        if self._on_report is not None:
            self._on_report(done)

    def record(self, image_id: str, outcome: ImageOutcome) -> None:
        self.ledger.record_chunk_image(self.job_id, self.index, self.owner, image_id, outcome)
