"""A claim's lease (a whole job's or one chunk's, ``pipeline.held``), kept alive while the work runs,
and the work's time limit.

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
from bgremover.pipeline.held import Held
from bgremover.resilience.transient import BACKEND_OUTAGE

log = get_logger(__name__)


class Lease:
    def __init__(
        self,
        held: Held,
        *,
        lease_s: float,
        time_limit_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.held = held
        self.ledger: JobLedger = held.ledger
        self.job_id = held.job_id
        self.owner = held.owner
        self._lease_s = lease_s
        self._time_limit_s = time_limit_s
        self._clock = clock
        self._started = clock()
        self._lost = threading.Event()
        self._done = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{held.job_id}", daemon=True)

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
                self.held.renew(self._lease_s)
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
            self.held.report(done, self._lease_s)
