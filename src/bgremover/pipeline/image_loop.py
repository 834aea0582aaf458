"""The per-image part of a job, shared by the whole-job path and a chunk of a big job: images one by
one (bounded memory), each recorded as it finishes, resuming past those an earlier attempt recorded.

A retried job (or chunk) resumes: an image is finished once its outcome is recorded (and, in a group
job, its descriptor stored, ``pipeline.descriptors``); a retry skips those and reads their descriptors
back, so a crash costs at most the image in flight. Each descriptor is made as its image finishes:
EfficientNet batches of 16 measured no faster per image than batches of 1 (26-30 against 21-25 ms on
this CPU). Outcomes go through the lease's ``Held`` (the job's claim or the chunk's), so a stale attempt
writes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bgremover.blobs.base import BlobStore
from bgremover.grouping.engine import GroupingEngine
from bgremover.grouping.subject import SubjectView
from bgremover.grouping.verify import Keypoints
from bgremover.ledger.base import ImageOutcome, ImageRecord, ImageStatus, Job
from bgremover.observability.metrics import IMAGES
from bgremover.pipeline.descriptors import DESCRIPTOR, load_descriptors, store_descriptor
from bgremover.pipeline.engines import Engines
from bgremover.pipeline.images import CUTOUTS, DECODE, EMBEDDINGS, THUMBNAILS, ImagePlan, ImageWorker
from bgremover.pipeline.lease import Lease
from bgremover.pipeline.timing import StageTimer

PER_IMAGE = (DECODE, THUMBNAILS, CUTOUTS, EMBEDDINGS)


@dataclass(frozen=True, slots=True)
class ImageSetup:
    """What every image of one job is processed with: its options (``plan``) and its tenant's model."""

    job: Job
    blobs: BlobStore
    engines: Engines
    plan: ImagePlan
    cutout_model: str | None

    @property
    def grouping(self) -> GroupingEngine | None:
        return self.engines.grouping if self.plan.grouping else None


class ImageLoop:
    """Runs images under ``lease``, timing them on ``timer``; remembers what the final step needs
    (each succeeded image's descriptor, the success count) across ``run`` calls."""

    def __init__(self, setup: ImageSetup, lease: Lease, timer: StageTimer) -> None:
        self.lease = lease
        self.timer = timer
        self.grouping = setup.grouping
        self._blobs = setup.blobs
        self.worker = ImageWorker(
            setup.blobs,
            setup.engines.cutout(setup.cutout_model).with_options(subject=setup.plan.subject),
            self.grouping,
            timer,
            setup.plan,
            setup.job.request_id,
        )
        self.described: dict[str, tuple[np.ndarray, Keypoints | None]] = {}
        self.succeeded = 0

    def run(self, images: list[ImageRecord]) -> None:
        """Every image of ``images`` recorded; progress (``Held.report``) counts within ``images``."""
        todo = self.resume(images)
        done = len(images) - len(todo)
        for record in todo:
            result = self.worker.process(record)
            outcome = result.outcome
            if result.view is not None:
                outcome = self._describe(record, result.view, outcome)
            self.lease.held.record(record.image_id, outcome)
            IMAGES.labels(status=outcome.status.value).inc()  # type: ignore[union-attr]
            self.succeeded += outcome.status is ImageStatus.SUCCEEDED
            done += 1
            self.lease.checkpoint(done)

    def resume(self, images: list[ImageRecord]) -> list[ImageRecord]:
        """The images still to do; those an earlier attempt finished are counted and their descriptors
        read back (progress written once for all of them)."""
        todo = []
        described = []
        for record in images:
            if not self.finished(record):
                todo.append(record)
                continue
            if record.status is ImageStatus.SUCCEEDED:
                self.succeeded += 1
                if self.grouping is not None:
                    described.append(record)
        keys = [record.outputs[DESCRIPTOR] for record in described]
        for record, descriptor in zip(described, load_descriptors(self._blobs, keys), strict=True):
            self.described[record.image_id] = descriptor
        if len(todo) < len(images):
            self.lease.checkpoint(len(images) - len(todo))
        return todo

    def finished(self, record: ImageRecord) -> bool:
        if record.status is ImageStatus.PENDING:
            return False
        return self.grouping is None or record.status is ImageStatus.FAILED or DESCRIPTOR in record.outputs

    def give_up(self, images: list[ImageRecord], problem_of: Callable[[ImageRecord], dict[str, Any]]) -> None:
        """Record every unfinished image of ``images`` failed with ``problem_of(record)``: a slice tried
        too often (it may hold an image that kills its worker) ends instead of being tried forever."""
        for record in images:
            if not self.finished(record):
                outcome = ImageOutcome(status=ImageStatus.FAILED, error=problem_of(record))
                self.lease.held.record(record.image_id, outcome)
                IMAGES.labels(status=ImageStatus.FAILED.value).inc()

    def per_image_totals(self) -> dict[str, dict[str, Any]]:
        """The per-image stages timed so far: ``{stage: {"ms", "images"}}``."""
        return {
            stage: {"ms": self.timer.totals_ms[stage], "images": self.timer.counts[stage]}
            for stage in PER_IMAGE
            if stage in self.timer.totals_ms
        }

    def _describe(self, record: ImageRecord, view: SubjectView, outcome: ImageOutcome) -> ImageOutcome:
        """The image's descriptor, stored before its outcome is recorded: a recorded image always has
        one. Only while the lease holds (a stale attempt writes nothing more)."""
        assert self.grouping is not None
        with self.timer.stage(EMBEDDINGS, images=0):
            row = self.grouping.describe([view])[0]
            found = self.grouping.keypoints([view])
            points = found[0] if found else None
            self.lease.checkpoint()
            key = store_descriptor(self._blobs, record.blob_key, row, points)
        self.described[record.image_id] = (row, points)
        return dataclasses.replace(outcome, outputs={**(outcome.outputs or {}), DESCRIPTOR: key})
