"""What the pipeline does to one image: decode, thumbnail, mask and cut-out, subject view. Any failure
is this image's alone: it is returned as a problem object and the job carries on with the others."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from bgremover.blobs.base import BlobStore
from bgremover.blobs.keys import output_key
from bgremover.cutout import CutoutEngine, CutoutOptions, compose
from bgremover.cutout.options import Subject
from bgremover.cutout.roi import Roi
from bgremover.grouping.engine import GroupingEngine
from bgremover.grouping.subject import SubjectView
from bgremover.imaging.decode import decode_image
from bgremover.imaging.encode import MIME_TYPES
from bgremover.imaging.thumbnails import render_thumbnail
from bgremover.ledger.base import ImageOutcome, ImageRecord, ImageStatus
from bgremover.pipeline.errors import image_problem
from bgremover.pipeline.timing import StageTimer
from bgremover.resilience.transient import BACKEND_OUTAGE

DECODE, THUMBNAILS, CUTOUTS, EMBEDDINGS = "decode", "thumbnails", "cutouts", "embeddings"
MASK_OPTIONS = CutoutOptions(mask_only=True, format="png")


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """What a job wants from each image."""

    thumbnail_size: int
    max_pixels: int
    cutout: CutoutOptions | None  # None: no cut-out output (masks are still made for grouping)
    grouping: bool
    roi: Roi | None = None  # the job's; the masks for grouping keep to it too
    image_rois: Mapping[str, Roi] = field(default_factory=dict)  # per image id, over the job's
    subject: Subject = "all"

    def roi_for(self, image_id: str) -> Roi | None:
        return self.image_rois.get(image_id, self.roi)


@dataclass(slots=True)
class ImageResult:
    outcome: ImageOutcome
    view: SubjectView | None = None
    outputs: dict[str, str] = field(default_factory=dict)


class ImageWorker:
    def __init__(
        self,
        blobs: BlobStore,
        cutout: CutoutEngine,
        grouping: GroupingEngine | None,
        timer: StageTimer,
        plan: ImagePlan,
        request_id: str | None,
    ) -> None:
        self._blobs = blobs
        self._cutout = cutout
        self._grouping = grouping
        self._timer = timer
        self._plan = plan
        self._request_id = request_id

    def process(self, record: ImageRecord) -> ImageResult:
        stage = DECODE
        outputs: dict[str, str] = {}
        try:
            with self._timer.stage(DECODE):
                image = decode_image(self._blobs.get(record.blob_key), max_pixels=self._plan.max_pixels)
            stage = THUMBNAILS
            with self._timer.stage(THUMBNAILS):
                self._thumbnail(record, image, outputs)
            stage = CUTOUTS
            with self._timer.stage(CUTOUTS):
                mask = self._cutout.predict_mask(image, self._plan.roi_for(record.image_id))
                self._cutouts(record, image, mask, outputs)
            view = None
            if self._grouping is not None:
                stage = EMBEDDINGS
                with self._timer.stage(EMBEDDINGS):
                    view = self._grouping.view(image, mask)
        except BACKEND_OUTAGE:
            raise  # the blob store blinked: the whole job is retried, the image is not failed
        except Exception as exc:
            problem = image_problem(exc, stage=stage, request_id=self._request_id, image_id=record.image_id)
            outcome = ImageOutcome(status=ImageStatus.FAILED, error=problem, outputs=outputs)
            return ImageResult(outcome)
        outcome = ImageOutcome(
            status=ImageStatus.SUCCEEDED, width=image.width, height=image.height, outputs=outputs
        )
        return ImageResult(outcome, view)

    def _thumbnail(self, record: ImageRecord, image: Image.Image, outputs: dict[str, str]) -> None:
        thumbnail = render_thumbnail(image, long_side=self._plan.thumbnail_size, fmt="webp")
        self._put(record, "thumbnail", thumbnail.data, thumbnail.media_type, outputs)

    def _cutouts(
        self, record: ImageRecord, image: Image.Image, mask: np.ndarray, outputs: dict[str, str]
    ) -> None:
        options = self._plan.cutout
        if options is None:
            return
        self._put(record, "mask", compose(image, mask, MASK_OPTIONS), MIME_TYPES["png"], outputs)
        self._put(record, "cutout", compose(image, mask, options), MIME_TYPES[options.format], outputs)

    def _put(
        self, record: ImageRecord, kind: str, data: bytes, content_type: str, outputs: dict[str, str]
    ) -> None:
        key = output_key(record.blob_key, kind)
        self._blobs.put(key, data, content_type=content_type)
        outputs[kind] = key
