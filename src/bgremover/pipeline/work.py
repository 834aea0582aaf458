"""One claimed job, start to finish: its images (``pipeline.image_loop``), then the whole-job stages.

Stages recorded on the job: ``decode``, ``thumbnails``, ``cutouts``, ``embeddings`` (per image, summed
over the job, with the image count), then ``grouping`` (group-images) and ``store``, each as it ends.
``decode`` includes unpacking the submit's upload into the per-image originals, done before any image
is read (idempotent, so a retried job finishes or skips it).

A big job's images are done in chunks by many workers (``pipeline.chunks``); this work then finds
them all recorded and runs only the final step, exactly as a retried job resumes: the descriptors are
read back and grouped in the job's image order, so the groups are those of one worker.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import numpy as np

from bgremover.blobs.keys import upload_key
from bgremover.blobs.upload import PackedImage, unpack_upload
from bgremover.cutout import CutoutOptions
from bgremover.cutout.options import IMAGE_ROIS
from bgremover.cutout.roi import Roi
from bgremover.ledger.base import ImageOutcome, ImageRecord, Job, JobType, LeaseLostError
from bgremover.pipeline.current_stage import CurrentStage
from bgremover.pipeline.image_loop import ImageLoop, ImageSetup
from bgremover.pipeline.images import DECODE, ImagePlan
from bgremover.pipeline.lease import Lease
from bgremover.pipeline.timing import StageTimer
from bgremover.resilience.transient import BACKEND_OUTAGE

GROUPING, STORE = "grouping", "store"


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


class ChunkPhase(Protocol):
    """Runs a big job's chunks to the end (``pipeline.chunks.ChunkCoordinator``)."""

    def run(self, timer: StageTimer) -> list[ImageRecord]:
        """Every chunk done, their per-image stage totals added to ``timer``; the job's image records
        read afresh."""
        ...


class JobWork:
    def __init__(
        self,
        setup: ImageSetup,
        images: list[ImageRecord],
        *,
        lease: Lease,
        threshold: float | None,
        chunks: ChunkPhase | None = None,
    ) -> None:
        self.job = setup.job
        self.images = images
        self.lease = lease
        self._ledger = lease.ledger
        self.current_stage = CurrentStage(self._ledger, self.job.job_id, lease.owner)
        self.timer = StageTimer(self.job.type.value, on_enter=self.current_stage)
        self.loop = ImageLoop(setup, lease, self.timer)
        self.grouping = self.loop.grouping
        self.threshold = threshold
        self._blobs = setup.blobs
        self._chunks = chunks

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
        if self._chunks is not None:
            self.images = self._chunks.run(self.timer)
        self.loop.run(self.images)  # after the chunks, nothing left but reading the descriptors back
        for stage, total in self.loop.per_image_totals().items():
            self._finish(stage, images=total["images"])
        succeeded = self.loop.succeeded
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

    def _group(self) -> list[tuple[list[str], str]]:
        """(member image ids, representative id) per group, over the images that succeeded."""
        assert self.grouping is not None
        with self.timer.stage(GROUPING):
            # In the job's image order whatever attempt described each: the same groups as one run.
            ids = [record.image_id for record in self.images if record.image_id in self.loop.described]
            groups = []
            if ids:
                descriptors = np.stack([self.loop.described[image_id][0] for image_id in ids])
                points = [self.loop.described[image_id][1] for image_id in ids]
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
