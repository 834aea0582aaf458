"""Each image's grouping descriptor, stored as a blob beside its outputs as soon as it is made, so a
retried job reads back what an earlier attempt computed instead of running the models again.

A blob, not a ledger field: a descriptor is a few KB (1280 floats and a colour histogram, whatever shape
the grouping engine gives it: it is stored as an opaque array) plus, where the engine verifies pairs, up
to 500 SIFT keypoints (~19 KiB; one ``.npz`` holds both), DynamoDB items stop at 400 KB
and every KB costs a write unit, and the API reads the image records on every status poll, while a
descriptor is read only by a retry. The key is recorded in the image's ``outputs`` (never served: the
API knows only its own output kinds), so deleting a job deletes it too and no blob is ever orphaned.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from bgremover.blobs.base import BlobStore
from bgremover.blobs.keys import output_key
from bgremover.grouping.verify import Keypoints

DESCRIPTOR = "descriptor"


def store_descriptor(blobs: BlobStore, original_key: str, row: np.ndarray, points: Keypoints | None) -> str:
    """Write ``row`` (and the image's keypoints, if any) beside the image whose original is
    ``original_key``; its key."""
    arrays = {"row": np.ascontiguousarray(row)}
    if points is not None:
        arrays |= {"points": points.points, "keypoints": points.descriptors}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    key = output_key(original_key, DESCRIPTOR)
    blobs.put(key, buffer.getvalue())
    return key


def load_descriptor(blobs: BlobStore, key: str) -> tuple[np.ndarray, Keypoints | None]:
    return _parsed(blobs.get(key))


def load_descriptors(blobs: BlobStore, keys: Sequence[str]) -> list[tuple[np.ndarray, Keypoints | None]]:
    """The descriptors under ``keys``, in that order, through the store's ``get_many`` (overlapped
    round trips on S3: a big job's final step reads one per photo)."""
    return [_parsed(data) for data in blobs.get_many(keys)]


def _parsed(data: bytes) -> tuple[np.ndarray, Keypoints | None]:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        points = Keypoints(stored["points"], stored["keypoints"]) if "points" in stored else None
        return stored["row"], points
