"""A claimed job's lease, kept alive while the job runs, and its time limit.

The lease is renewed by a background thread every third of its length, so one slow image (a 100 MP
photo on a busy machine) never lets it lapse and hands the job to a second worker; a hung worker is
the watchdog's business, not the lease's. A renewal that finds the job canceled or taken over marks
the lease lost, and the work stops at its next checkpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from bgremover.ledger.base import JobLedger, LeaseLostError
from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import worker_heartbeat
from bgremover.pipeline.errors import JobTimeLimitError
from bgremover.resilience.transient import BACKEND_OUTAGE

log = get_logger(__name__)


class Lease:
    def __init__(
        self,
        ledger: JobLedger,
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
        self._started = clock()
        self._lost = threading.Event()
        self._done = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> Lease:
        self._renewer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._renewer.join(timeout=self._lease_s)

    def _renew(self) -> None:
        while not self._done.wait(self._lease_s / 3):
            try:
                self.ledger.heartbeat(self.job_id, self.owner, self._lease_s)
                worker_heartbeat()
            except LeaseLostError:
                self._lost.set()
                return
            except BACKEND_OUTAGE as exc:  # try again next period; the lease has slack for two misses
                log.warning("lease_renewal_failed", error=str(exc))

    def checkpoint(self, done: int | None = None) -> None:
        """Between units of work: stop if the lease is lost or the time is up, record progress."""
        if self._lost.is_set():
            raise LeaseLostError(self.job_id)
        if self._clock() - self._started > self._time_limit_s:
            raise JobTimeLimitError(f"the job ran longer than its limit of {self._time_limit_s:g} s")
        if done is not None:
            self.ledger.set_progress(self.job_id, self.owner, done)
