"""A submit's upload blob on every store adapter: written as one blob, unpacked by the worker into the
per-image originals (idempotently, resuming a partial unpack), and served by window until then."""

from __future__ import annotations

import io
import os

import pytest

from bgremover.blobs import BlobNotFoundError, BlobStore
from bgremover.blobs.upload import (
    PackedImage,
    TruncatedUploadError,
    put_upload,
    read_original_from_upload,
    unpack_upload,
)

PREFIX = "t1/jobs/j1/"
UPLOAD = f"{PREFIX}upload"
# Over S3's multipart threshold (8 MiB) in all, with a tiny image between two large ones.
PHOTOS = [os.urandom(3 * 1024 * 1024 + 17), b"tiny-photo", os.urandom(6 * 1024 * 1024 + 5)]
IMAGES = [
    PackedImage(f"{PREFIX}img-{n:04d}.original", len(photo), "image/png")
    for n, photo in enumerate(PHOTOS, start=1)
]


def _store_upload(store: BlobStore, photos: list[bytes] = PHOTOS) -> None:
    files = [io.BytesIO(photo) for photo in photos]
    for file in files:
        file.seek(0, io.SEEK_END)  # where hashing the request leaves them: the reader rewinds each
    assert put_upload(store, UPLOAD, files) == sum(map(len, photos))


def test_upload_is_one_blob_holding_the_photos_in_order(store: BlobStore) -> None:
    _store_upload(store)
    assert list(store.list(PREFIX)) == [UPLOAD]
    assert store.get(UPLOAD) == b"".join(PHOTOS)


def test_unpack_stores_each_original_exactly_and_removes_the_upload(store: BlobStore) -> None:
    _store_upload(store)
    unpack_upload(store, UPLOAD, IMAGES)
    assert [store.get(image.key) for image in IMAGES] == PHOTOS
    assert sorted(store.list(PREFIX)) == [image.key for image in IMAGES]


def test_unpack_again_is_a_no_op(store: BlobStore) -> None:
    _store_upload(store)
    unpack_upload(store, UPLOAD, IMAGES)
    store.delete(IMAGES[1].key)
    unpack_upload(store, UPLOAD, IMAGES)  # the upload is gone: nothing to read, nothing written
    assert sorted(store.list(PREFIX)) == [IMAGES[0].key, IMAGES[2].key]


def test_unpack_resumes_after_a_partial_unpack(store: BlobStore) -> None:
    """An earlier attempt stored the first original and died: it is kept (not rewritten), the rest follow."""
    _store_upload(store)
    store.put(IMAGES[0].key, b"stored by the crashed attempt")
    unpack_upload(store, UPLOAD, IMAGES)
    assert store.get(IMAGES[0].key) == b"stored by the crashed attempt"
    assert [store.get(image.key) for image in IMAGES[1:]] == PHOTOS[1:]
    assert not store.exists(UPLOAD)


def test_truncated_upload_raises_and_is_kept(store: BlobStore) -> None:
    _store_upload(store, [PHOTOS[0], PHOTOS[1][:4]])
    with pytest.raises(TruncatedUploadError, match=r"ends 6 bytes before the image of 10 bytes"):
        unpack_upload(store, UPLOAD, IMAGES)
    assert store.exists(UPLOAD)
    assert not store.exists(IMAGES[1].key) and not store.exists(IMAGES[2].key)


def test_an_original_is_read_from_the_upload_before_unpacking(store: BlobStore) -> None:
    _store_upload(store)
    offset = 0
    for photo in PHOTOS:
        with read_original_from_upload(store, UPLOAD, offset, len(photo)) as stream:
            head = stream.read(64)
            assert head + stream.read() == photo
            assert stream.read(1) == b""
        offset += len(photo)


def test_reading_from_an_absent_upload_is_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        read_original_from_upload(store, UPLOAD, 0, 10)
