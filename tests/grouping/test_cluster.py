"""Clustering guarantees: determinism, duplicates together, singletons, medoids, tiny and large inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from bgremover.grouping.cluster import cluster, cosine_condensed, medoid


def _blobs(rng: np.random.Generator, centres: int, per_centre: int, spread: float) -> np.ndarray:
    """Points around ``centres`` random directions in 64-d; cosine distance within a blob ~ spread**2 / 2."""
    base = rng.normal(size=(centres, 64))
    return np.repeat(base, per_centre, axis=0) + spread * rng.normal(size=(centres * per_centre, 64))


def test_well_separated_blobs_are_recovered_with_members_in_input_order() -> None:
    rng = np.random.default_rng(1)
    points = _blobs(rng, 5, 4, 0.2)
    shuffled = rng.permutation(len(points))
    groups = cluster(points[shuffled], threshold=0.3)
    truth = shuffled // 4
    assert len(groups) == 5
    for group in groups:
        assert list(group.members) == sorted(group.members)
        assert len({int(truth[i]) for i in group.members}) == 1
        assert group.representative in group.members
    assert [g.members[0] for g in groups] == sorted(g.members[0] for g in groups)


def test_same_input_gives_same_output() -> None:
    points = _blobs(np.random.default_rng(2), 30, 3, 0.6)
    assert cluster(points, 0.35) == cluster(points.copy(), 0.35)


def test_exact_duplicates_always_share_a_group_even_at_threshold_zero() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(6, 16))
    with_copies = np.vstack([points, points[2], points[4], points[2]])
    groups = cluster(with_copies, threshold=0.0)
    by_member = {i: g for g in groups for i in g.members}
    assert by_member[2] is by_member[6] is by_member[8]
    assert by_member[4] is by_member[7]
    assert len(groups) == 6


def test_distinct_points_stay_singletons() -> None:
    groups = cluster(np.eye(4), threshold=0.5)
    assert [g.members for g in groups] == [(0,), (1,), (2,), (3,)]
    assert [g.representative for g in groups] == [0, 1, 2, 3]


@pytest.mark.parametrize(("points", "expected"), [(np.ones((1, 8)), [(0,)]), (np.zeros((0, 8)), [])])
def test_empty_and_single_inputs(points: np.ndarray, expected: list) -> None:
    assert [g.members for g in cluster(points, 0.3)] == expected


def test_two_inputs_merge_only_under_the_threshold() -> None:
    a, b = np.array([1.0, 0.0]), np.array([0.8, 0.6])  # cosine distance 0.2
    assert len(cluster(np.vstack([a, b]), 0.25)) == 1
    assert len(cluster(np.vstack([a, b]), 0.15)) == 2


def test_medoid_is_the_most_central_member_first_on_ties() -> None:
    points = np.array([[1.0, 0.0], [0.9, 0.1], [0.7, 0.3], [0.5, 0.5]])
    assert medoid(points) in (1, 2)
    assert medoid(np.ones((3, 2))) == 0


def test_two_thousand_images_cluster_with_every_index_once() -> None:
    points = _blobs(np.random.default_rng(4), 400, 5, 0.3).astype(np.float32)
    groups = cluster(points, 0.3)
    members = sorted(i for g in groups for i in g.members)
    assert members == list(range(2000))
    assert 350 <= len(groups) <= 450


def test_blocked_cosine_distances_match_scipy() -> None:
    points = np.random.default_rng(5).normal(size=(301, 20))
    np.testing.assert_allclose(cosine_condensed(points, block=64), pdist(points, "cosine"), atol=1e-12)
