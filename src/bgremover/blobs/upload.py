"""A submit's upload: every photo of the request as one blob (``upload_key``), so the request path
creates one file (one PUT on S3) whatever the number of photos; the worker unpacks it into the
per-image originals before it reads any of them.

Until then an image's original is a window of the upload, starting at the sum of the sizes of the
images before it, and ``read_original_from_upload`` serves that window: originals can be downloaded
at all times. Unpacking is idempotent: an original already stored is not written again and the upload
is removed only once every original is stored, so an attempt that crashed or lost its lease half-way
leaves a state the next attempt finishes, and once the upload is gone there is nothing left to do.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import BinaryIO, NamedTuple, Protocol, cast

from bgremover.blobs.base import BlobNotFoundError, BlobStore

_SKIP_CHUNK = 1024 * 1024
_Buffer = bytearray | memoryview


class PackedImage(NamedTuple):
    """One image in an upload: the key its original is unpacked to, its size (its share of the
    upload's bytes, in position order) and its media type (stored with the original)."""

    key: str
    size: int
    content_type: str


class TruncatedUploadError(Exception):
    """The upload ends before the images it was written with: it is not the blob the ledger describes."""


class _Source(Protocol):
    """What ``ConcatenatedReader`` needs of a staged file (spooled or in-memory)."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def readinto(self, buffer: _Buffer, /) -> int | None: ...


class ConcatenatedReader(io.RawIOBase):
    """Read-only: several files one after another, each from its start, as one stream, so that
    ``put_stream`` stores them as one blob without holding them in memory. A read is short only at
    the end: S3's multipart upload needs every part but the last to be whole. The files stay open
    (their owner closes them)."""

    def __init__(self, files: Sequence[_Source]) -> None:
        super().__init__()
        self._files = iter(files)
        self._current = self._next_file()

    def _next_file(self) -> _Source | None:
        file = next(self._files, None)
        if file is not None:
            file.seek(0)  # hashing the request (its fingerprint) may have read it
        return file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: _Buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._current is not None:
            count = self._current.readinto(view[filled:])
            if count:
                filled += count
            else:
                self._current = self._next_file()
        return filled


def put_upload(blobs: BlobStore, upload_key: str, files: Sequence[_Source]) -> int:
    """Store ``files``, each from its start, as the one upload blob; return the bytes written."""
    return blobs.put_stream(upload_key, cast(BinaryIO, ConcatenatedReader(files)))


def unpack_upload(blobs: BlobStore, upload_key: str, images: Sequence[PackedImage]) -> None:
    """Store each image's bytes of the upload under its own key, in one pass over the upload, then
    remove it; nothing to do when it is gone (unpacked before). ``put`` is atomic, so an original
    that exists is whole and is skipped; which exist is read from one listing of the job's folder
    (one request on S3, where a check per image would be one HEAD each)."""
    try:
        stream = blobs.open(upload_key)
    except BlobNotFoundError:
        return
    stored = set(blobs.list(upload_key.rpartition("/")[0] + "/"))  # one listing, not a lookup per image
    with stream:
        for image in images:
            data = _read_exactly(stream, image.size, upload_key)
            if image.key not in stored:
                blobs.put(image.key, data, content_type=image.content_type)
    blobs.delete(upload_key)


def read_original_from_upload(blobs: BlobStore, upload_key: str, offset: int, size: int) -> BinaryIO:
    """The ``size`` bytes at ``offset`` of the upload, streamed (the original of an image the worker has
    not unpacked yet); raises ``BlobNotFoundError`` when the upload is gone. Closing it closes the blob."""
    stream = blobs.open(upload_key)
    try:
        _skip(stream, offset)
    except BaseException:
        stream.close()
        raise
    return cast(BinaryIO, _Window(stream, size))


def _read_exactly(stream: BinaryIO, size: int, upload_key: str) -> bytes:
    parts, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise TruncatedUploadError(
                f"the upload {upload_key!r} ends {left} bytes before the image of {size} bytes it should hold"
            )
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _skip(stream: BinaryIO, count: int) -> None:
    """Move ``count`` bytes on: a seek on a file, reading and discarding on a stream (S3's body)."""
    if stream.seekable():
        stream.seek(count, io.SEEK_CUR)
        return
    while count and (chunk := stream.read(min(count, _SKIP_CHUNK))):
        count -= len(chunk)


class _Window(io.RawIOBase):
    """At most ``size`` bytes of ``stream``, from where it stands; closing the window closes the stream."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: _Buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(min(len(view), self._left))
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
