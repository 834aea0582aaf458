"""Grouping of descriptors by cosine distance, with no number of groups given.

Default: agglomerative clustering with average linkage and a distance threshold: two groups merge
while the mean cosine distance between their members stays under the threshold. Measured on
grocery_val while exploring (subject embedding alone; see also :mod:`bgremover.grouping.threshold`):
single linkage chains look-alike products together (ARI 0.32 against 0.44), complete linkage scores
like average. ``"hdbscan"`` runs HDBSCAN (min cluster size 2, noise points alone) and then splits each
of its clusters by average linkage at the threshold, so the threshold stays a ceiling.

Guarantees the service and CLI rely on:
- deterministic: the same descriptors in the same order give the same groups;
- identical descriptors (exact duplicate files) always share a group: they are collapsed to one point
  before clustering, which also saves the work of clustering them;
- groups are listed in order of their first member, members in input order, and each has a
  representative, its medoid (the member with the least total distance to the others; first wins ties).

Cost: SciPy's linkage needs the condensed distance matrix, N(N-1)/2 float64, so memory is quadratic in
the number of distinct images (2,000: 16 MB; 10,000: 400 MB) and time roughly quadratic too (2,000
images: about a second); HDBSCAN needs the square matrix and its copy (2,000: 2 x 32 MB). That is what
the algorithms need; nothing else here is quadratic except the medoid of a group, in the size of that
group only (the verified pairs are at most N x their neighbour count).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.cluster import HDBSCAN

from bgremover.grouping.threshold import DEFAULT_METHOD, ClusterMethod

# HDBSCAN needs a few points to estimate density; smaller inputs use the threshold alone.
MIN_DENSITY_POINTS = 3
# A verified pair's cosine distance counts this much: closer, not merged outright, since look-alike
# packaging of one brand verifies too (0.3 and 0.7 measured within 0.03 ARI of 0.5; see verify.py; a hard
# link, a factor scaled by the inlier count and a transitive closure all scored lower: see engine.py).
VERIFIED_DISTANCE_FACTOR = 0.5


@dataclass(frozen=True)
class Group:
    """Indices into the clustered input: ``members`` ascending, ``representative`` one of them."""

    members: tuple[int, ...]
    representative: int


def cosine_condensed(points: np.ndarray, block: int = 512) -> np.ndarray:
    """Condensed cosine distances (SciPy's ``pdist`` layout), by blocks of BLAS products: 25x faster
    than ``pdist`` at 2,000 x 1,472 and never more than ``block`` rows of the square matrix at once."""
    unit = points.astype(np.float64) / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    count = len(unit)
    condensed = np.empty(count * (count - 1) // 2)
    for start in range(0, count, block):
        rows = 1.0 - unit[start : start + block] @ unit.T
        for offset, row in enumerate(rows):
            i = start + offset
            begin = i * count - i * (i + 1) // 2
            condensed[begin : begin + count - i - 1] = row[i + 1 :]
    return np.clip(condensed, 0.0, 2.0)


def _average_linkage(condensed: np.ndarray, threshold: float) -> np.ndarray:
    if len(condensed) == 0:
        return np.zeros(1, np.int64)
    return fcluster(linkage(condensed, method="average"), t=threshold, criterion="distance")


def _density_then_ceiling(condensed: np.ndarray, threshold: float) -> np.ndarray:
    """HDBSCAN's groups (noise points alone), each split again by average linkage at ``threshold``."""
    distances = squareform(condensed)
    if len(distances) <= MIN_DENSITY_POINTS:
        return _average_linkage(condensed, threshold)
    # copy: HDBSCAN may overwrite a precomputed matrix, and its blocks are read again below.
    dense = HDBSCAN(min_cluster_size=2, metric="precomputed", copy=True).fit_predict(distances)
    labels = np.full(len(distances), -1, np.int64)
    next_label = 0
    for cluster_id in np.unique(dense[dense >= 0]):
        members = np.flatnonzero(dense == cluster_id)
        within = squareform(distances[np.ix_(members, members)], checks=False)
        labels[members] = next_label + _average_linkage(within, threshold)
        next_label = labels[members].max() + 1
    noise = np.flatnonzero(labels < 0)
    labels[noise] = next_label + np.arange(len(noise))
    return labels


_METHODS = {"average": _average_linkage, "hdbscan": _density_then_ceiling}


def _shorten_verified(condensed: np.ndarray, count: int, pairs: np.ndarray) -> None:
    """Scale the distance of each (i, j), i < j, pair of ``count`` points by VERIFIED_DISTANCE_FACTOR."""
    if len(pairs) == 0:
        return
    i, j = pairs[:, 0], pairs[:, 1]
    condensed[i * count - i * (i + 1) // 2 + (j - i - 1)] *= VERIFIED_DISTANCE_FACTOR


def medoid(points: np.ndarray) -> int:
    """Index of the row with the least summed cosine distance to the others (the first on ties)."""
    unit = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    return int(np.argmax((unit @ unit.T).sum(axis=1)))


def cluster(
    descriptors: np.ndarray,
    threshold: float,
    method: ClusterMethod = DEFAULT_METHOD,
    verified: Iterable[tuple[int, int]] = (),
) -> list[Group]:
    """Groups of ``descriptors`` (N x D): ``method``'s groups, none wider than ``threshold`` (average
    cosine distance between its members' sub-groups). ``verified`` index pairs (the same product by
    geometric verification, :mod:`bgremover.grouping.verify`) count as closer than their cosine says."""
    if len(descriptors) == 0:
        return []
    distinct, first_index, inverse = np.unique(descriptors, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first_index, kind="stable")  # cluster distinct rows in input order: deterministic
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    point_of = rank[inverse.reshape(-1)]  # input index -> row of the clustered distinct points
    condensed = cosine_condensed(distinct[order])
    pairs = {tuple(sorted((int(point_of[a]), int(point_of[b])))) for a, b in verified}
    _shorten_verified(condensed, len(order), np.array(sorted(p for p in pairs if p[0] != p[1]), np.int64))
    labels = _METHODS[method](condensed, threshold)[point_of]
    groups = []
    for label in dict.fromkeys(labels.tolist()):  # labels in order of first appearance
        members = np.flatnonzero(labels == label)
        groups.append(Group(tuple(members.tolist()), int(members[medoid(descriptors[members])])))
    return groups
