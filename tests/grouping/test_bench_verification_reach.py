"""The grouping bench's account of where verification stands (bench/grouping_quality.py), on a batch
small enough that every pair is a candidate and each count can be worked out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from bgremover.grouping import DEFAULT_THRESHOLD
from bgremover.grouping.cluster import cluster

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from grouping_quality import Dataset, Method, group_labels, verification_reach


def test_counts_candidates_verified_pairs_per_category_and_the_precise_oracle() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    keys = [f"val/Fruit/Apple/{i}.jpg" for i in range(3)] + ["val/Packages/Milk/3.jpg"]
    keys += ["val/Packages/Milk/4.jpg", "val/Vegetables/Leek/5.jpg"]
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    centres[2] = 0.72 * centres[0] + np.sqrt(1 - 0.72**2) * centres[2]  # cosine distance 0.28 from product 0
    descriptors = centres[labels] + 0.001 * rng.normal(size=(6, 8))
    # (2, 5) joins two products: drawn closer, it merges them at the default threshold; dropped, the
    # three products come out exactly (ARI 1).
    verified = [(0, 1), (2, 5), (3, 4)]
    with_wrong = group_labels(cluster(descriptors, DEFAULT_THRESHOLD, verified=verified), len(labels))
    assert adjusted_rand_score(labels, with_wrong) < 1.0
    data = Dataset("toy", keys, [], labels)
    method = Method(descriptors, 1.0, labels, verified=verified)

    report = verification_reach(data, method)

    # 3 Fruit pairs + 1 Packages pair, all candidates (5 neighbours each among 6 photos).
    assert report.startswith(
        "same-product pairs 4, 4 candidates, verified 2 of them (Fruit 1/3, Packages 1/1)"
    )
    assert "1 verified pairs join two products" in report
    assert report.endswith("ARI without those 1.000")
