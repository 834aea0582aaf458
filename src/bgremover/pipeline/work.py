"""One claimed job, start to finish: images one by one (bounded memory), then the whole-job stages.

Stages recorded on the job: ``decode``, ``thumbnails``, ``cutouts``, ``embeddings`` (per image, summed
over the job, with the image count), then ``grouping`` (group-images) and ``store``, each as it ends.
``decode`` includes unpacking the submit's upload into the per-image originals, done before any image
is read (idempotent, so a retried job finishes or skips it).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from bgremover.blobs.base import BlobStore
from bgremover.blobs.keys import upload_key
from bgremover.blobs.upload import PackedImage, unpack_upload
from bgremover.cutout import CutoutOptions
from bgremover.cutout.options import IMAGE_ROIS
from bgremover.cutout.roi import Roi
from bgremover.grouping.engine import GroupingEngine
from bgremover.grouping.subject import SubjectView
from bgremover.grouping.verify import Keypoints
from bgremover.ledger.base import ImageOutcome, ImageRecord, ImageStatus, Job, JobType, LeaseLostError
from bgremover.observability.metrics import IMAGES
from bgremover.pipeline.current_stage import CurrentStage
from bgremover.pipeline.engines import Engines
from bgremover.pipeline.images import CUTOUTS, DECODE, EMBEDDINGS, THUMBNAILS, ImagePlan, ImageWorker
from bgremover.pipeline.lease import Lease
from bgremover.pipeline.timing import StageTimer
from bgremover.resilience.transient import BACKEND_OUTAGE

GROUPING, STORE = "grouping", "store"
EMBED_BATCH = 16


def image_plan(job: Job, *, thumbnail_size: int, max_pixels: int) -> ImagePlan:
    """Read the job's options (validated by the API) into what each image needs."""
    cutout = CutoutOptions.model_validate(
        {name: value for name, value in job.options.items() if name in CutoutOptions.model_fields}
    )
    grouping = job.type is JobType.GROUP_IMAGES
    wants_cutout = not grouping or bool(job.options.get("remove_background"))
    rois = {image_id: Roi.parse(roi) for image_id, roi in job.options.get(IMAGE_ROIS, {}).items()}
    return ImagePlan(
        thumbnail_size,
        max_pixels,
        cutout if wants_cutout else None,
        grouping,
        roi=cutout.region,
        image_rois=rois,
        subject=cutout.subject,
    )


class JobWork:
    def __init__(
        self,
        job: Job,
        images: list[ImageRecord],
        *,
        blobs: BlobStore,
        engines: Engines,
        lease: Lease,
        plan: ImagePlan,
        cutout_model: str | None,
        threshold: float | None,
    ) -> None:
        self.job = job
        self.images = images
        self.lease = lease
        self._ledger = lease.ledger
        self.current_stage = CurrentStage(self._ledger, job.job_id, lease.owner)
        self.timer = StageTimer(job.type.value, on_enter=self.current_stage)
        self.grouping: GroupingEngine | None = engines.grouping if plan.grouping else None
        self.threshold = threshold
        self._blobs = blobs
        self.worker = ImageWorker(
            blobs,
            engines.cutout(cutout_model).with_options(subject=plan.subject),
            self.grouping,
            self.timer,
            plan,
            job.request_id,
        )
        self._pending: list[tuple[str, SubjectView]] = []
        self._described: list[tuple[str, np.ndarray, Keypoints | None]] = []

    def run(self) -> dict[str, Any]:
        """Every stage is recorded as the job's current stage as it starts (``CurrentStage``)."""
        try:
            return self._run()
        except BaseException:
            with contextlib.suppress(LeaseLostError, *BACKEND_OUTAGE):
                self.current_stage.flush()  # a failure names the stage it happened in
            raise
        finally:
            self.current_stage.close()

    def _run(self) -> dict[str, Any]:
        self._unpack()
        succeeded = 0
        for done, record in enumerate(self.images, start=1):
            result = self.worker.process(record)
            self._ledger.record_image(self.job.job_id, self.lease.owner, record.image_id, result.outcome)
            IMAGES.labels(status=result.outcome.status.value).inc()  # type: ignore[union-attr]
            succeeded += result.outcome.status is ImageStatus.SUCCEEDED
            if result.view is not None:
                self._pending.append((record.image_id, result.view))
                if len(self._pending) >= EMBED_BATCH:
                    self._describe_pending()
            self.lease.checkpoint(done)
        self._describe_pending()
        for stage in (DECODE, THUMBNAILS, CUTOUTS, EMBEDDINGS):
            if stage in self.timer.totals_ms:
                self._finish(stage, images=self.timer.counts[stage])
        result: dict[str, Any] = {"succeeded": succeeded, "failed": len(self.images) - succeeded}
        groups = self._group() if self.grouping is not None else None
        with self.timer.stage(STORE):
            if groups is not None:
                result["groups"] = self._store_groups(groups)
        self._finish(STORE)
        return result

    def _unpack(self) -> None:
        """The originals from the submit's upload, before any image is read (nothing to do once done)."""
        packed = [PackedImage(image.blob_key, image.size_bytes, image.content_type) for image in self.images]
        with self.timer.stage(DECODE, images=0):
            unpack_upload(self._blobs, upload_key(self.job.tenant_id, self.job.job_id), packed)

    def _describe_pending(self) -> None:
        if not self._pending:
            return
        assert self.grouping is not None
        with self.timer.stage(EMBEDDINGS, images=0):
            views = [view for _, view in self._pending]
            rows = self.grouping.describe(views)
            points = self.grouping.keypoints(views) or [None] * len(views)
        ids = [image_id for image_id, _ in self._pending]
        self._described.extend(zip(ids, rows, points, strict=True))
        self._pending.clear()
        self.lease.checkpoint()

    def _group(self) -> list[tuple[list[str], str]]:
        """(member image ids, representative id) per group, over the images that succeeded."""
        assert self.grouping is not None
        with self.timer.stage(GROUPING):
            ids = [image_id for image_id, _, _ in self._described]
            groups = []
            if ids:
                descriptors = np.stack([row for _, row, _ in self._described])
                points = [p for _, _, p in self._described]
                verify = None if any(p is None for p in points) else points
                for group in self.grouping.cluster(descriptors, self.threshold, verify):
                    groups.append(([ids[i] for i in group.members], ids[group.representative]))
        self._finish(GROUPING, groups=len(groups))
        return groups

    def _store_groups(self, groups: list[tuple[list[str], str]]) -> list[dict[str, Any]]:
        stored = []
        for number, (members, representative) in enumerate(groups, start=1):
            group_id = f"group-{number:04d}"
            for image_id in members:
                outcome = ImageOutcome(group_id=group_id)
                self._ledger.record_image(self.job.job_id, self.lease.owner, image_id, outcome)
            stored.append({"groupId": group_id, "imageIds": members, "representativeImageId": representative})
        return stored

    def _finish(self, stage: str, **detail: Any) -> None:
        self._ledger.finish_stage(
            self.job.job_id, self.lease.owner, stage, self.timer.observe(stage), **detail
        )
