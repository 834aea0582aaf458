"""Mask prediction: one model pass on the whole photo (or on the user's region of interest alone),
then optionally a second pass on a small subject's neighbourhood so that a 320x320 network sees it at a
higher effective resolution, and the choice of one object among several."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bgremover.cutout.metrics import mask_iou
from bgremover.cutout.options import Subject
from bgremover.cutout.refine import guided_filter
from bgremover.cutout.roi import Roi
from bgremover.cutout.sessions import SegmentationSession, open_session
from bgremover.cutout.subject import select_subject
from bgremover.models.fetch import model_path
from bgremover.models.registry import DEFAULT_CUTOUT_MODEL, get_model, resolve_model_dir
from bgremover.models.sessions import default_threads

# Context the model sees around a ROI, as a fraction of the ROI's width and height on each side. On the
# 300 SOD pairs with each truth's box + 5% as ROI, mean IoU / MAE / photos under 0.5 measured: the ROI
# alone 0.6419 / 0.1108 / 83, with 10% context 0.6543 / 0.1101 / 78, 25% 0.6575 / 0.1116 / 75, 50%
# 0.6576 / 0.1133 / 72 (whole frame: 0.6380 / 0.1193 / 82): a salient-object model needs some of
# the surroundings to tell the object from them.
ROI_CONTEXT = 0.25


@dataclass(frozen=True)
class SecondPass:
    """When and how to look again. ``max_area`` is the largest box (fraction of the frame) that gets
    a second pass; ``padding`` widens the box by that fraction of its longer side for context. The two
    passes are averaged inside the box: on SOD-300 averaging beat replacing the first pass (which
    loses the whole-scene context) and taking the minimum.

    A zoom is only as good as the box it zooms on, so the closer look must agree with the first (IoU
    of the two masks in the box at least ``min_agreement``), else the first pass stands alone. On all
    300 SOD pairs (123 get a second look) the unguarded zoom measured mean IoU 0.6426 against 0.6380
    but cost one photo 0.375 of its IoU; with the guard at 0.5 it measured 0.6421 and no photo lost
    more than 0.130. Requiring one dominant object as well (largest >= 90% of the foreground) was
    measured and dropped: 0.6410, the same worst loss. ``min_agreement=0`` is the unguarded zoom.
    Off by default: +0.004 IoU for 0.4 more model runs per photo, and a loss of 0.13 on one photo is
    more than a little."""

    enabled: bool = False
    max_area: float = 0.3
    padding: float = 0.25
    threshold: float = 0.5
    min_agreement: float = 0.5


def subject_box(prob: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the pixels above ``threshold``, exclusive end; None when there are none."""
    ys, xs = np.nonzero(prob > threshold)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


class CutoutEngine:
    """Predicts 8-bit foreground masks with one shared ONNX session per model and process."""

    def __init__(
        self,
        session: SegmentationSession,
        second_pass: SecondPass | None = None,
        *,
        refine: bool = False,
        subject: Subject = "all",
    ) -> None:
        self.session = session
        self.second_pass = second_pass or SecondPass()
        self.refine = refine
        self.subject = subject

    @classmethod
    def from_settings(
        cls,
        model_name: str | None = None,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
    ) -> CutoutEngine:
        """The process's engine for ``model_name`` (default u2netp) in ``model_dir`` (default
        ``BGR_MODEL_DIR``) over a session with ``threads`` intra-op threads (default:
        :func:`default_threads`); the model must have been fetched. A caller that will run several
        images at once asks for its per-image thread count here, so that no all-cores session is
        opened only to go unused (each costs graph optimisation time and an activation arena).
        Cached: callers may call it per image."""
        directory = resolve_model_dir(model_dir).resolve()
        return _engine(model_name or DEFAULT_CUTOUT_MODEL, directory, threads or default_threads())

    def with_options(
        self,
        *,
        second_pass: SecondPass | None = None,
        refine: bool | None = None,
        subject: Subject | None = None,
    ) -> CutoutEngine:
        """The same shared session with other settings. Guided-filter refinement is off by default:
        on SOD-300 it lowered IoU (0.566 -> 0.562 at radius 4 on 60 pairs), whose masks are binary."""
        return CutoutEngine(
            self.session,
            second_pass or self.second_pass,
            refine=self.refine if refine is None else refine,
            subject=subject or self.subject,
        )

    def with_threads(self, threads: int) -> CutoutEngine:
        """The same settings over a session with ``threads`` intra-op threads: for callers that run
        several images at once (:func:`bgremover.cutout.batch.run_batch`)."""
        return CutoutEngine(
            self.session.with_threads(threads), self.second_pass, refine=self.refine, subject=self.subject
        )

    def predict_mask(self, image: Image.Image, roi: Roi | None = None) -> np.ndarray:
        """uint8 mask, height x width of ``image``: 0 background .. 255 foreground."""
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        return to_uint8(self.predict_probability(rgb, roi))

    def predict_probability(self, image: Image.Image, roi: Roi | None = None) -> np.ndarray:
        """float32 foreground probability at the size of the RGB ``image``. With a ``roi``, the model
        sees the ROI's rectangle and a margin of context around it (:data:`ROI_CONTEXT`) at its own
        resolution instead of the whole photo, and everything outside the ROI is 0;
        :class:`~bgremover.cutout.roi.RoiError` when the ROI leaves no pixel of this image."""
        if roi is None or roi.whole_frame:
            return self._finish(image, self._predict_frame(image))
        width, height = image.size
        x0, y0, x1, y1 = box = roi.box(width, height)
        view = Roi.around(box, width, height, ROI_CONTEXT).box(width, height)
        seen = self._predict_frame(image.crop(view))
        cx0, cy0 = view[:2]
        prob = np.zeros((height, width), np.float32)
        # The subject is chosen (and edges refined) inside the ROI only: an object in the context margin
        # must not win "largest" or move "central" off the ROI's centre.
        inside = seen[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
        prob[y0:y1, x0:x1] = self._finish(image.crop(box), inside)
        return prob

    def _predict_frame(self, image: Image.Image) -> np.ndarray:
        return self._look_closer(image, resize_map(self.session.predict(image), image.width, image.height))

    def _finish(self, image: Image.Image, prob: np.ndarray) -> np.ndarray:
        prob = select_subject(prob, self.subject)
        return guided_filter(np.asarray(image.convert("L")), prob) if self.refine else prob

    def _look_closer(self, image: Image.Image, prob: np.ndarray) -> np.ndarray:
        """The second pass, when the first mask is trustworthy and the closer look agrees with it."""
        box = self._second_pass_box(prob)
        if box is None:
            return prob
        x0, y0, x1, y1 = box
        first = prob[y0:y1, x0:x1]
        closer = resize_map(self.session.predict(image.crop(box)), x1 - x0, y1 - y0)
        if mask_iou(to_uint8(first), to_uint8(closer)) < self.second_pass.min_agreement:
            return prob
        prob[y0:y1, x0:x1] = (first + closer) / 2
        return prob

    def _second_pass_box(self, prob: np.ndarray) -> tuple[int, int, int, int] | None:
        options = self.second_pass
        if not options.enabled:
            return None
        box = subject_box(prob, options.threshold)
        if box is None:
            return None
        height, width = prob.shape
        x0, y0, x1, y1 = box
        if (x1 - x0) * (y1 - y0) > options.max_area * width * height:
            return None
        pad = round(options.padding * max(x1 - x0, y1 - y0))
        return max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)


def resize_map(prob: np.ndarray, width: int, height: int) -> np.ndarray:
    """A probability map to another size; bilinear is smooth and exact enough for a soft mask."""
    if prob.shape == (height, width):
        return prob
    return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)


def to_uint8(prob: np.ndarray) -> np.ndarray:
    """0..1 float map to 0..255, rounded and saturated in one OpenCV pass (NumPy's scale, clip and cast
    took 15x longer on a 6 MP map). ``prob`` is never negative, so the absolute value is a no-op."""
    return cv2.convertScaleAbs(prob, alpha=255.0)


@lru_cache(maxsize=8)
def _engine(model_name: str, model_dir: Path, threads: int) -> CutoutEngine:
    spec = get_model(model_name, model_dir)
    if spec.kind != "segmentation":
        raise ValueError(f"model {model_name!r} is an {spec.kind} model, not a cut-out model")
    return CutoutEngine(open_session(spec, model_path(model_name, model_dir), threads))
