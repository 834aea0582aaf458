"""Turns ``BGR_STORAGE_URL`` into a blob store: ``file://PATH`` (default) or ``s3://bucket/prefix``."""

from __future__ import annotations

from bgremover.blobs.base import BlobStore
from bgremover.blobs.local import LocalBlobStore


def blob_store_from_url(
    url: str, *, s3_endpoint_url: str | None = None, s3_presign_seconds: int = 0
) -> BlobStore:
    if url.startswith("file://"):
        return LocalBlobStore.from_url(url)
    if url.startswith("s3://"):
        from bgremover.blobs.s3 import S3BlobStore  # boto3 is imported only where S3 is used

        return S3BlobStore.from_url(url, endpoint_url=s3_endpoint_url, presign_seconds=s3_presign_seconds)
    raise ValueError(f"unsupported storage URL (expected file://PATH or s3://bucket/prefix): {url!r}")
