"""Stage timings. Per-image stages run interleaved image by image (so a 1,000-image job never holds
1,000 decoded photos), so their time is summed over the images and recorded once the images are done;
whole-job stages are recorded as each one finishes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bgremover.observability.metrics import STAGE_DURATION
from bgremover.observability.tracing import stage_span


class StageTimer:
    """``on_enter`` is told each stage as it starts (the job's current stage, ``CurrentStage``)."""

    def __init__(self, job_type: str, on_enter: Callable[[str], None] | None = None) -> None:
        self._job_type = job_type
        self._on_enter = on_enter
        self.totals_ms: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @contextmanager
    def stage(self, name: str, *, images: int = 1) -> Iterator[None]:
        """Time a block of ``name`` that handles ``images`` images (0 for batch work on images
        already counted)."""
        if self._on_enter is not None:
            self._on_enter(name)
        started = time.perf_counter()
        try:
            with stage_span(name):
                yield
        finally:
            self.totals_ms[name] = self.totals_ms.get(name, 0.0) + (time.perf_counter() - started) * 1000
            self.counts[name] = self.counts.get(name, 0) + images

    def observe(self, name: str) -> float:
        """The stage's total in ms, also observed in the stage-duration histogram."""
        total = self.totals_ms.get(name, 0.0)
        STAGE_DURATION.labels(stage=name, type=self._job_type).observe(total / 1000)
        return total

    def part(self) -> StageTimer:
        """A timer for one part of this work (a chunk the coordinator runs itself): the same stage
        announcements, its own totals (stored with the chunk, then ``add``-ed back by the coordinator)."""
        return StageTimer(self._job_type, on_enter=self._on_enter)

    def add(self, name: str, ms: float, images: int) -> None:
        """Fold in a stage timed elsewhere (another worker's chunk)."""
        self.totals_ms[name] = self.totals_ms.get(name, 0.0) + ms
        self.counts[name] = self.counts.get(name, 0) + images
