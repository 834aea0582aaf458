"""Geometric verification: what it links, what it refuses, and that only candidate pairs are matched."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bgremover.grouping import verify
from bgremover.grouping.cluster import cluster
from bgremover.grouping.subject import subject_view
from bgremover.grouping.verify import Keypoints, candidate_pairs, inliers, keypoints, verified_pairs

JUICE = "grocery_val/val/Packages/Juice"


def _photo(shared_data: Path, name: str) -> Image.Image:
    product = name.rsplit("_", 1)[0]
    return Image.open(shared_data / JUICE / product / f"{name}.jpg").convert("RGB")


def _turned(image: Image.Image, degrees: float, scale: float) -> Image.Image:
    """The photo seen a little turned and from further away (same size, border replicated)."""
    rgb = np.asarray(image)
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, scale)
    return Image.fromarray(cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE))


def test_the_same_packaging_turned_verifies_and_another_product_does_not(shared_data: Path) -> None:
    photo = _photo(shared_data, "Bravo-Apple-Juice_001")
    same = keypoints(subject_view(photo))
    assert len(same) > 50
    turned = keypoints(subject_view(_turned(photo, 20, 0.8)))
    assert inliers(same, turned) >= 3 * verify.MIN_INLIERS
    for other in ("Bravo-Orange-Juice_001", "God-Morgon-Orange-Juice_001"):  # same brand; same shelf
        assert inliers(same, keypoints(subject_view(_photo(shared_data, other)))) < verify.MIN_INLIERS


def test_keypoints_lie_on_the_subject_only(shared_data: Path) -> None:
    photo = _photo(shared_data, "Bravo-Apple-Juice_001")
    mask = np.zeros((photo.height, photo.width), np.uint8)
    mask[:, : photo.width // 2] = 255  # the subject is the left half; its view is centred on grey
    view = subject_view(photo, mask)
    found = keypoints(view)
    assert len(found) > 0
    columns = found.points[:, 0].astype(int)
    rows = found.points[:, 1].astype(int)
    assert (view.alpha[rows, columns] > 0.4).all()
    blank = subject_view(Image.new("RGB", (64, 64), (127, 127, 127)))
    assert len(keypoints(blank)) == 0
    assert inliers(keypoints(blank), found) == 0


def test_candidate_pairs_are_each_rows_nearest_neighbours_and_linear_in_count() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(40, 16))
    pairs = candidate_pairs(points, neighbours=3, block=7)  # blocks smaller than the input on purpose
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    expected = {(min(i, j), max(i, j)) for i in range(40) for j in np.argsort(-similarity[i])[:3]}
    assert pairs == expected
    assert len(pairs) <= 40 * 3
    assert all(i < j for i, j in pairs)
    assert candidate_pairs(points[:1]) == set()
    assert candidate_pairs(points[:2]) == {(0, 1)}


def test_a_colourway_is_never_verified_however_well_its_print_matches(shared_data: Path) -> None:
    found = keypoints(subject_view(_photo(shared_data, "Bravo-Apple-Juice_001")))
    descriptors = np.array([[1.0, 0.0], [0.9, 0.1]])
    red, blue = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert verified_pairs(descriptors, [found, found]) == [(0, 1)]
    assert verified_pairs(descriptors, [found, found], np.stack([red, red])) == [(0, 1)]
    assert verified_pairs(descriptors, [found, found], np.stack([red, blue])) == []
    empty = Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8))
    assert verified_pairs(descriptors, [found, empty]) == []
    with pytest.raises(ValueError, match="1 keypoint sets for 2 descriptors"):
        verified_pairs(descriptors, [found])


@pytest.mark.parametrize("duplicate", [False, True])
def test_a_verified_pair_draws_two_photos_under_the_threshold(duplicate: bool) -> None:
    # cosine distance between the two directions: 1 - cos(theta) = 0.4, over a threshold of 0.25
    theta = np.arccos(0.6)
    points = np.array([[1.0, 0.0], [np.cos(theta), np.sin(theta)], [-1.0, 0.0]])
    if duplicate:  # an exact copy of the first photo: its pairs count for the point they share
        points = np.vstack([points, points[:1]])
    apart = cluster(points, threshold=0.25)
    assert not any({0, 1} <= set(g.members) for g in apart)
    linked = cluster(points, threshold=0.25, verified=[(1, len(points) - 1 if duplicate else 0)])
    assert any({0, 1} <= set(g.members) for g in linked)
    assert any(g.members == (2,) for g in linked)
    hdbscan = cluster(points, threshold=0.25, method="hdbscan", verified=[(0, 1)])
    assert any({0, 1} <= set(g.members) for g in hdbscan)
