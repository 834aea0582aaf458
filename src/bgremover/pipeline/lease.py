"""A claimed job's lease, kept alive as the work progresses, and its time limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from bgremover.ledger.sql import SqlJobLedger
from bgremover.observability.metrics import worker_heartbeat
from bgremover.pipeline.errors import JobTimeLimitError


class Lease:
    """Renews the claim a third of the way into it; a renewal that finds the job canceled or taken
    over raises ``LeaseLostError``, which stops the work at the next checkpoint."""

    def __init__(
        self,
        ledger: SqlJobLedger,
        job_id: str,
        owner: str,
        *,
        lease_s: float,
        time_limit_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.job_id = job_id
        self.owner = owner
        self._lease_s = lease_s
        self._time_limit_s = time_limit_s
        self._clock = clock
        self._started = self._renewed = clock()

    def checkpoint(self, done: int | None = None) -> None:
        """Between units of work: enforce the time limit, record progress, renew when due."""
        now = self._clock()
        if now - self._started > self._time_limit_s:
            raise JobTimeLimitError(f"the job ran longer than its limit of {self._time_limit_s:g} s")
        if done is not None:
            self.ledger.set_progress(self.job_id, self.owner, done)
        if now - self._renewed >= self._lease_s / 3:
            self.ledger.heartbeat(self.job_id, self.owner, self._lease_s)
            self._renewed = now
            worker_heartbeat()
