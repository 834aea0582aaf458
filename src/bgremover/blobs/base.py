"""The blob store port. Keys are ``/``-separated and always start with the tenant id, so that one
tenant's data can be listed, exported or deleted as a prefix, and no key is ever built from a
client-supplied filename."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol, runtime_checkable


class BlobNotFoundError(KeyError):
    """No blob under that key."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        """Store ``data`` under ``key`` atomically (readers never see half a blob); overwriting is
        allowed so that retried work is idempotent."""
        ...

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream"
    ) -> int:
        """Store a stream without holding it whole in memory; return the bytes written."""
        ...

    def get(self, key: str) -> bytes: ...

    def get_many(self, keys: Sequence[str]) -> list[bytes]:
        """The blobs under ``keys``, in that order (``BlobNotFoundError`` if any is missing). A store
        with a round trip per read (S3) overlaps them: a big job's final step reads one per photo."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable file object, for streaming a blob back to a client."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Delete the one blob under ``key``, none other; a missing key is no error (so a retried
        clean-up is idempotent)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix``; return how many."""
        ...

    def list(self, prefix: str) -> Iterator[str]: ...


@runtime_checkable
class PresigningBlobStore(BlobStore, Protocol):
    """A store that can hand clients a time-limited URL of their own (S3), so result downloads need
    not pass through the API."""

    def presigned_url(self, key: str) -> str | None:
        """The URL, or ``None`` where presigning is not configured."""
        ...


@runtime_checkable
class DirectUploadBlobStore(BlobStore, Protocol):
    """A store clients upload to themselves (S3), so photos of a direct upload never pass through
    the API; the API then checks each one by reading its head and tail only."""

    def presigned_put(
        self, key: str, *, size: int, content_type: str, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        """A URL for one PUT of exactly ``size`` bytes of ``content_type`` that cannot overwrite an
        existing blob, valid ``expires_in`` seconds, and the headers the client must send with it."""
        ...

    def open_ranged(self, key: str) -> BinaryIO:
        """A seekable reader that fetches only the ranges read; ``BlobNotFoundError`` when missing."""
        ...
