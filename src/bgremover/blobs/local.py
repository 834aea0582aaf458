"""Blobs on the local disk, the embedded default (``BGR_STORAGE_URL=file://./var/blobs``).

Writes go to a temporary file in the target folder and are renamed into place, so a reader never sees
half a blob and a crash leaves no partial file under a real key.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from bgremover.blobs.base import BlobNotFoundError

_CHUNK = 1024 * 1024


class LocalBlobStore:
    """The ``BlobStore`` port on a folder; keys map to relative paths under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str) -> LocalBlobStore:
        """``file://./relative`` or ``file:///absolute``."""
        if not url.startswith("file://") or url == "file://":
            raise ValueError(f"not a file URL (expected file://PATH): {url!r}")
        return cls(Path(url.removeprefix("file://")))

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in {"", ".", ".."} for part in parts):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        with self._atomic_writer(key) as out:
            out.write(data)

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream"
    ) -> int:
        with self._atomic_writer(key) as out:
            shutil.copyfileobj(stream, out, _CHUNK)
            return out.tell()

    def _atomic_writer(self, key: str) -> _AtomicWriter:
        return _AtomicWriter(self._path(key))

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def open(self, key: str) -> BinaryIO:
        try:
            return cast(BinaryIO, self._path(key).open("rb"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for key in keys:
            self._path(key).unlink(missing_ok=True)
        return len(keys)

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (a plain string prefix, like S3's)."""
        folder, _, _ = prefix.rpartition("/")
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key


class _AtomicWriter:
    """A temporary file beside the target, renamed onto it only when the write completed."""

    def __init__(self, target: Path) -> None:
        self._target = target

    def __enter__(self) -> BinaryIO:
        self._target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._target.parent, prefix=".tmp-")
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")
        return cast(BinaryIO, self._file)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._file.close()
        if exc_type is None:
            self._tmp.replace(self._target)
        else:
            self._tmp.unlink(missing_ok=True)
