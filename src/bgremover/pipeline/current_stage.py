"""The stage a running job shows (``GET /v1/jobs/{id}`` ``stage``): what its worker is doing now.

Images go through ``decode``, ``thumbnails``, ``cutouts`` and ``embeddings`` one after the other, so the
stage changes four times per image. Writing every change would triple the ledger writes of a job (the
shared ceiling of a distributed deployment), so a change from one per-image stage to another is written
at most once per ``min_interval_s``; a change held back is written by a timer when the interval ends,
so a poller sees the stage that is running at most that much late, never a stage long finished. The
first stage and the whole-job stages (``grouping``, ``store``) are written at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from bgremover.ledger.base import LeaseLostError
from bgremover.observability.logging import get_logger
from bgremover.pipeline.images import CUTOUTS, DECODE, EMBEDDINGS, THUMBNAILS
from bgremover.resilience.transient import BACKEND_OUTAGE

log = get_logger(__name__)

PER_IMAGE_STAGES = frozenset({DECODE, THUMBNAILS, CUTOUTS, EMBEDDINGS})
DEFAULT_MIN_INTERVAL_S = 1.0


class StageWriter(Protocol):
    def start_stage(self, job_id: str, owner: str, stage: str) -> None: ...


class CurrentStage:
    """Called with each stage as it starts (``StageTimer``'s ``on_enter``); writes it to the ledger.
    ``close`` when the work ends: a pending write is dropped."""

    def __init__(
        self,
        ledger: StageWriter,
        job_id: str,
        owner: str,
        *,
        min_interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._job_id = job_id
        self._owner = owner
        self._min_interval_s = DEFAULT_MIN_INTERVAL_S if min_interval_s is None else min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self._written: str | None = None
        self._written_at = float("-inf")
        self.current: str | None = None

    def __call__(self, stage: str) -> None:
        with self._lock:
            self.current = stage
            if stage == self._written or self._closed:
                return
            wait = self._min_interval_s - (self._clock() - self._written_at)
            if wait > 0 and stage in PER_IMAGE_STAGES and self._written in PER_IMAGE_STAGES:
                self._flush_after(wait)
                return
            self._write(stage)

    def flush(self) -> None:
        """Write the current stage if the interval held it back."""
        with self._lock:
            self._timer = None
            if not self._closed and self.current is not None and self.current != self._written:
                self._write(self.current)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _flush_after(self, wait: float) -> None:
        if self._timer is None:
            self._timer = threading.Timer(wait, self._flush_in_background)
            self._timer.daemon = True
            self._timer.start()

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        except LeaseLostError:
            pass  # canceled or taken over: the work stops at its next checkpoint
        except BACKEND_OUTAGE as exc:  # only the displayed stage is late; the next change writes it
            log.warning("stage_write_failed", error=str(exc))

    def _write(self, stage: str) -> None:
        self._ledger.start_stage(self._job_id, self._owner, stage)
        self._written, self._written_at = stage, self._clock()
