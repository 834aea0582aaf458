"""Each image's grouping descriptor, stored as a blob beside its outputs as soon as it is made, so a
retried job reads back what an earlier attempt computed instead of running the models again.

A blob, not a ledger field: a descriptor is a few KB (1280 floats and a colour histogram, whatever shape
the grouping engine gives it: it is stored as an opaque ``.npy`` array), DynamoDB items stop at 400 KB
and every KB costs a write unit, and the API reads the image records on every status poll, while a
descriptor is read only by a retry. The key is recorded in the image's ``outputs`` (never served: the
API knows only its own output kinds), so deleting a job deletes it too and no blob is ever orphaned.
"""

from __future__ import annotations

import io

import numpy as np

from bgremover.blobs.base import BlobStore
from bgremover.blobs.keys import output_key

DESCRIPTOR = "descriptor"


def store_descriptor(blobs: BlobStore, original_key: str, row: np.ndarray) -> str:
    """Write ``row`` beside the image whose original is ``original_key``; its key."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(row), allow_pickle=False)
    key = output_key(original_key, DESCRIPTOR)
    blobs.put(key, buffer.getvalue())
    return key


def load_descriptor(blobs: BlobStore, key: str) -> np.ndarray:
    return np.load(io.BytesIO(blobs.get(key)), allow_pickle=False)
