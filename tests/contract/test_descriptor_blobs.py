"""A photo's stored grouping descriptor reads back exactly, one at a time or many at once, on every blob
store: a big job's final step groups from these, so the groups equal one uninterrupted run's."""

from __future__ import annotations

import numpy as np
import pytest

from bgremover.blobs import BlobNotFoundError, BlobStore
from bgremover.blobs.s3 import PARALLEL_GETS
from bgremover.grouping.verify import Keypoints
from bgremover.pipeline.descriptors import load_descriptor, load_descriptors, store_descriptor


def _stored(store: BlobStore, count: int) -> tuple[list[str], list[np.ndarray], list[Keypoints | None]]:
    rng = np.random.default_rng(7)
    keys, rows, points = [], [], []
    for n in range(count):
        row = rng.standard_normal(1304).astype(np.float32)
        found = None
        if n % 3:  # some photos have no keypoints (a flat subject)
            found = Keypoints(
                rng.random((n, 2), dtype=np.float32) * 224, rng.integers(0, 256, (n, 128), dtype=np.uint8)
            )
        keys.append(store_descriptor(store, f"acme/job/originals/{n:04d}.jpg", row, found))
        rows.append(row)
        points.append(found)
    return keys, rows, points


def test_many_descriptors_read_back_exactly_and_in_order(store: BlobStore) -> None:
    keys, rows, points = _stored(store, 3 * PARALLEL_GETS + 1)
    loaded = load_descriptors(store, list(reversed(keys)))
    assert len(loaded) == len(keys)
    for (row, found), want_row, want_points in zip(loaded, reversed(rows), reversed(points), strict=True):
        assert row.dtype == np.float32 and np.array_equal(row, want_row)
        if want_points is None:
            assert found is None
        else:
            assert found is not None
            assert np.array_equal(found.points, want_points.points)
            assert np.array_equal(found.descriptors, want_points.descriptors)
    single_row, _ = load_descriptor(store, keys[0])
    assert np.array_equal(single_row, rows[0])
    assert load_descriptors(store, []) == []


def test_a_missing_descriptor_among_many_is_an_error_not_a_gap(store: BlobStore) -> None:
    keys, _, _ = _stored(store, 5)
    with pytest.raises(BlobNotFoundError):
        load_descriptors(store, [*keys[:2], "acme/job/outputs/gone.descriptor", *keys[2:]])
