"""Geometric verification of candidate pairs: the classic second stage of instance retrieval.

An ImageNet embedding says "both are milk cartons"; it cannot say "both are this carton". Local
features can: the same packaging seen from another angle, closer or on another shelf still shares
dozens of SIFT keypoints (letters, logos, pictures) that map onto each other by one affine transform,
while two look-alike products share few. So each photo's subject view also gets SIFT keypoints, and
the few nearest neighbours of each photo by descriptor (never all pairs: ``NEIGHBOURS`` per photo, so
the work stays linear in the batch) are matched: RootSIFT descriptors, Lowe's ratio test, then RANSAC
on an affine model; a pair with ``MIN_INLIERS`` inliers is *verified*, and the clustering counts its
distance as closer (:data:`bgremover.grouping.cluster.VERIFIED_DISTANCE_FACTOR`).

SIFT sees grey levels only, so a colourway (same print, other colour) verifies as well as the product
itself; a verified pair must therefore also have similar subject colours (``MIN_COLOUR_SIMILARITY``,
cosine of the colour histograms) to count.

Measured with ``bench/grouping_quality.py`` on grocery_val, the sod300 near-duplicate set and
fashion_products (the figures are in the README): 10-15 inliers, a distance factor of 0.3-0.5 and a colour
gate of 0.7-0.8 all scored within 0.02 ARI of each other; the values below sit in the middle. Neighbours:
5 per photo scored 0.564 on grocery_val, 10 and 20 both 0.575 (20 matching twice the pairs); keypoints on
a 320-pixel view instead of the 224-pixel one the embedding sees scored 0.506 and 0.810 on the
near-duplicates (more keypoints, more chance matches) at twice the cost; crops of 320-640 pixels with
500-1,000 keypoints, and other uses of verified pairs, are in :mod:`bgremover.grouping.engine`. A
homography or a similarity transform instead of the affine model, and a ratio of 0.75 or 0.85, all scored
lower on grocery_val (0.527-0.544 against 0.547, measured before the colour histogram got 24 hues).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from bgremover.grouping.subject import SubjectView

MAX_KEYPOINTS = 500
# Alpha above which a view pixel is subject: keypoints on the neutral-grey padding would match anything.
SUBJECT_ALPHA = 0.5
NEIGHBOURS = 10
RATIO = 0.8
RANSAC_REPROJECTION_PX = 6.0
MIN_INLIERS = 12
MIN_COLOUR_SIMILARITY = 0.7
# Fewer matches than this cannot hold MIN_INLIERS inliers; RANSAC is not worth running.
_MIN_MATCHES = 6


@dataclass(frozen=True)
class Keypoints:
    """SIFT keypoints of one subject view: positions and descriptors (uint8 holds SIFT losslessly)."""

    points: np.ndarray  # float32 (K, 2), view pixels
    descriptors: np.ndarray  # uint8 (K, 128)

    def __len__(self) -> int:
        return len(self.points)


def keypoints(view: SubjectView, limit: int = MAX_KEYPOINTS) -> Keypoints:
    """SIFT keypoints of the view's subject (its padding and background are masked out)."""
    grey = cv2.cvtColor(view.pixels, cv2.COLOR_RGB2GRAY)
    mask = (view.alpha > SUBJECT_ALPHA).astype(np.uint8)
    found, descriptors = cv2.SIFT_create(nfeatures=limit).detectAndCompute(grey, mask)
    if descriptors is None:
        return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8))
    points = np.array([k.pt for k in found], np.float32).reshape(-1, 2)
    return Keypoints(points, np.clip(np.rint(descriptors), 0, 255).astype(np.uint8))


def _root_sift(descriptors: np.ndarray) -> np.ndarray:
    """Hellinger-mapped SIFT (Arandjelovic and Zisserman, 2012): L1-normalise, square root; its
    Euclidean distances match better than raw SIFT's."""
    rows = descriptors.astype(np.float32)
    return np.sqrt(rows / np.maximum(rows.sum(axis=1, keepdims=True), 1e-7))


def inliers(a: Keypoints, b: Keypoints) -> int:
    """Matches between ``a`` and ``b`` that pass the ratio test and agree on one affine transform."""
    return _inliers(a, _root_sift(a.descriptors), b, _root_sift(b.descriptors))


def _inliers(a: Keypoints, a_root: np.ndarray, b: Keypoints, b_root: np.ndarray) -> int:
    if min(len(a), len(b)) < 2:
        return 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(a_root, b_root, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < _MIN_MATCHES:
        return 0
    source = a.points[[m.queryIdx for m in good]]
    target = b.points[[m.trainIdx for m in good]]
    _, kept = cv2.estimateAffine2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_REPROJECTION_PX
    )
    return 0 if kept is None else int(kept.sum())


def candidate_pairs(
    descriptors: np.ndarray, neighbours: int = NEIGHBOURS, block: int = 512
) -> set[tuple[int, int]]:
    """Each row's ``neighbours`` nearest rows by cosine, as (low, high) index pairs: at most
    N x ``neighbours`` pairs, computed ``block`` rows at a time."""
    count = len(descriptors)
    k = min(neighbours, count - 1)
    if k <= 0:
        return set()
    unit = descriptors / np.maximum(np.linalg.norm(descriptors, axis=1, keepdims=True), 1e-12)
    pairs: set[tuple[int, int]] = set()
    for start in range(0, count, block):
        similarity = unit[start : start + block] @ unit.T
        rows = np.arange(len(similarity))
        similarity[rows, start + rows] = -np.inf  # never its own neighbour
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        for row, columns in zip(start + rows, nearest, strict=True):
            pairs.update((min(row, c), max(row, c)) for c in columns.tolist())
    return pairs


def verified_pairs(
    descriptors: np.ndarray, points: Sequence[Keypoints], colours: np.ndarray | None = None
) -> list[tuple[int, int]]:
    """The candidate pairs (:func:`candidate_pairs`) that share ``MIN_INLIERS`` geometrically
    consistent keypoints and, when ``colours`` (unit rows) are given, similar colours; sorted."""
    if len(points) != len(descriptors):
        raise ValueError(f"{len(points)} keypoint sets for {len(descriptors)} descriptors")
    verified = []
    roots: dict[int, np.ndarray] = {}  # each photo's RootSIFT, made once for all its pairs
    for i, j in sorted(candidate_pairs(descriptors)):
        if colours is not None and float(colours[i] @ colours[j]) < MIN_COLOUR_SIMILARITY:
            continue  # cheap test first: a colourway is not the product, however well it matches
        for k in (i, j):
            if k not in roots:
                roots[k] = _root_sift(points[k].descriptors)
        if _inliers(points[i], roots[i], points[j], roots[j]) >= MIN_INLIERS:
            verified.append((i, j))
    return verified
