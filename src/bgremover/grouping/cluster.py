"""Grouping of descriptors by cosine distance, with no number of groups given.

Agglomerative clustering with average linkage and a distance threshold: two groups merge while the
mean cosine distance between their members stays under the threshold. Average linkage was measured
against single and complete linkage and HDBSCAN (``bench/grouping_quality.py``): single linkage chains
similar-looking products together, complete linkage splits one product shot from several angles, and
HDBSCAN needs density that a shoot of 3-10 photos per product does not have.

Guarantees the service and CLI rely on:
- deterministic: the same descriptors in the same order give the same groups;
- identical descriptors (exact duplicate files) always share a group: they are collapsed to one point
  before clustering, which also saves the work of clustering them;
- groups are listed in order of their first member, members in input order, and each has a
  representative, its medoid (the member with the least total distance to the others; first wins ties).

Cost: SciPy's linkage needs the condensed distance matrix, N(N-1)/2 float64, so memory is quadratic in
the number of distinct images (2,000: 16 MB; 10,000: 400 MB) and time roughly quadratic too (2,000
images: about a second). That is what the algorithm needs; nothing else here is quadratic except the
medoid of a group, quadratic in the size of that group only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist


@dataclass(frozen=True)
class Group:
    """Indices into the clustered input: ``members`` ascending, ``representative`` one of them."""

    members: tuple[int, ...]
    representative: int


def _labels(points: np.ndarray, threshold: float) -> np.ndarray:
    """Flat cluster label per point (any integers)."""
    if len(points) == 1:
        return np.zeros(1, np.int64)
    distances = np.clip(pdist(points.astype(np.float64), metric="cosine"), 0.0, 2.0)
    tree = linkage(distances, method="average")
    return fcluster(tree, t=threshold, criterion="distance")


def medoid(points: np.ndarray) -> int:
    """Index of the row with the least summed cosine distance to the others (the first on ties)."""
    unit = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    return int(np.argmax((unit @ unit.T).sum(axis=1)))


def cluster(descriptors: np.ndarray, threshold: float) -> list[Group]:
    """Groups of ``descriptors`` (N x D) whose average-linkage cosine distance is at most ``threshold``."""
    if len(descriptors) == 0:
        return []
    distinct, first_index, inverse = np.unique(descriptors, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first_index, kind="stable")  # cluster distinct rows in input order: deterministic
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = _labels(distinct[order], threshold)[rank[inverse.reshape(-1)]]
    groups = []
    for label in dict.fromkeys(labels.tolist()):  # labels in order of first appearance
        members = np.flatnonzero(labels == label)
        groups.append(Group(tuple(members.tolist()), int(members[medoid(descriptors[members])])))
    return groups
