"""S3-compatible blob store (AWS S3, MinIO, Ceph, moto), selected by ``BGR_STORAGE_URL=s3://bucket/prefix``.

Credentials and region come from boto3's standard chain (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``,
instance roles, ...); only the endpoint of a non-AWS store needs a setting (``BGR_S3_ENDPOINT_URL``,
or boto3's own ``AWS_ENDPOINT_URL_S3``). Every key is stored under the URL's prefix, so one bucket can
serve several deployments.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from bgremover.blobs.base import BlobNotFoundError

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_DELETE_BATCH = 1000  # S3's DeleteObjects limit
PARALLEL_GETS = 10  # boto3's default connection pool: more threads would only wait for a connection
_RANGE_BUFFER = 256 * 1024  # one ranged GET covers a photo's header (EXIF, ICC) or its ZIP trailer


@dataclass(frozen=True, slots=True)
class S3Location:
    """``s3://bucket/prefix`` split into its parts; the prefix never starts or ends with ``/``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an S3 URL (expected s3://bucket/prefix): {url!r}")
        return cls(bucket=parts.netloc, prefix=parts.path.strip("/"))

    def key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def unkey(self, stored: str) -> str:
        return stored[len(self.prefix) + 1 :] if self.prefix else stored


class _CountingReader:
    """Counts what boto3's multipart upload reads, so ``put_stream`` can report the size without
    buffering the stream."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.count += len(chunk)
        return chunk


def make_client(endpoint_url: str | None = None, *, timeout: float = 10.0) -> BaseClient:
    """A client with bounded timeouts and retries: a slow store must never hang a request or a worker."""
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout * 3,
        retries={"max_attempts": 4, "mode": "standard"},
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        signature_version="s3v4",  # presigned URLs sign their headers (size, type, If-None-Match)
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


class S3BlobStore:
    """The ``BlobStore`` port on S3. Single-object PUTs are atomic in S3, so readers never see half a
    blob, and overwriting the same key makes retried work idempotent."""

    def __init__(self, client: BaseClient, location: S3Location, *, presign_seconds: int = 0) -> None:
        self._client = client
        self._loc = location
        self._presign_seconds = presign_seconds

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None, presign_seconds: int = 0) -> S3BlobStore:
        return cls(make_client(endpoint_url), S3Location.parse(url), presign_seconds=presign_seconds)

    @property
    def location(self) -> S3Location:
        return self._loc

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(
            Bucket=self._loc.bucket, Key=self._loc.key(key), Body=data, ContentType=content_type
        )

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream"
    ) -> int:
        reader = _CountingReader(stream)
        self._client.upload_fileobj(
            reader, self._loc.bucket, self._loc.key(key), ExtraArgs={"ContentType": content_type}
        )
        return reader.count

    def get(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def get_many(self, keys: Sequence[str]) -> list[bytes]:
        """``PARALLEL_GETS`` at a time: each GET is a round trip of tens of ms, so 1,000 in sequence
        would cost tens of seconds."""
        if len(keys) < 2:
            return [self.get(key) for key in keys]
        with ThreadPoolExecutor(min(PARALLEL_GETS, len(keys)), thread_name_prefix="bgr-s3-get") as pool:
            return list(pool.map(self.get, keys))

    def open(self, key: str) -> BinaryIO:
        try:
            response = self._client.get_object(Bucket=self._loc.bucket, Key=self._loc.key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                raise BlobNotFoundError(key) from exc
            raise
        return cast(BinaryIO, response["Body"])

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._loc.bucket, Key=self._loc.key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._loc.bucket, Prefix=self._loc.key(prefix)):
            for item in page.get("Contents", []):
                yield self._loc.unkey(item["Key"])

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._loc.bucket, Key=self._loc.key(key))

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._loc.key(key) for key in self.list(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            self._client.delete_objects(
                Bucket=self._loc.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        return len(keys)

    def presigned_url(self, key: str) -> str | None:
        """A time-limited GET URL for clients to fetch a result straight from the store, or ``None``
        when presigning is off (``BGR_S3_PRESIGN_SECONDS=0``) and results go through the API."""
        if self._presign_seconds <= 0:
            return None
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._loc.bucket, "Key": self._loc.key(key)},
            ExpiresIn=self._presign_seconds,
        )

    def presigned_put(
        self, key: str, *, size: int, content_type: str, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        """SigV4 signs the headers as well, so S3 itself refuses another size or type, and
        ``If-None-Match: *`` makes the slot single-use: a second PUT of the key is 412."""
        url = self._client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self._loc.bucket,
                "Key": self._loc.key(key),
                "ContentType": content_type,
                "ContentLength": size,
                "IfNoneMatch": "*",
            },
            ExpiresIn=expires_in,
        )
        return url, {"Content-Type": content_type, "Content-Length": str(size), "If-None-Match": "*"}

    def open_ranged(self, key: str) -> BinaryIO:
        try:
            head = self._client.head_object(Bucket=self._loc.bucket, Key=self._loc.key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                raise BlobNotFoundError(key) from exc
            raise
        raw = _RangedReader(self._client, self._loc.bucket, self._loc.key(key), int(head["ContentLength"]))
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=_RANGE_BUFFER))


class _RangedReader(io.RawIOBase):
    """A seekable view of one object whose reads are ranged GETs: image headers and ZIP trailers are
    checked without downloading the photo."""

    def __init__(self, client: BaseClient, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._get(self._position + len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        """The rest in one GET (``RawIOBase`` would ask 8 KiB at a time: the ZIP check reads 64 KiB)."""
        return self._get(self._size)

    def _get(self, end: int) -> bytes:
        end = min(end, self._size)
        if end <= self._position:
            return b""
        response = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end - 1}"
        )
        data: bytes = response["Body"].read()
        self._position += len(data)
        return data
