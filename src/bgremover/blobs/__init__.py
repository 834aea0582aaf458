"""Blob storage for uploads and results: local disk by default, S3-compatible stores at scale."""

from bgremover.blobs.base import BlobNotFoundError, BlobStore

__all__ = ["BlobNotFoundError", "BlobStore"]
