"""Blobs on the local disk, the embedded default (``BGR_STORAGE_URL=file://./var/blobs``).

Writes go to a temporary file in the target folder and are renamed into place, so a reader never sees
half a blob and a crash leaves no partial file under a real key. They use the bare system calls (open,
write, rename; mkdir only when the folder is missing): a submit writes its upload on the request path,
and on a small VM pathlib, ``mkstemp`` and buffered file objects cost a third of a blob's write time.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, cast

from bgremover.blobs.base import BlobNotFoundError

_CHUNK = 1024 * 1024
_TMP_PREFIX = ".tmp-"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_MODE = 0o600  # blobs are the tenants' photos: readable by the service's user only
# Temporary names: a random tag per import (a restarted container reuses pids), the pid (forked workers
# share the tag) and a counter, instead of fresh random bytes per blob: the worker names one per output.
_TMP_TAG = secrets.token_hex(4)
_TMP_SERIAL = itertools.count()


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
        self._write(key, (data,))

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream"
    ) -> int:
        return self._write(key, iter(lambda: stream.read(_CHUNK), b""))

    def _write(self, key: str, chunks: Iterable[bytes]) -> int:
        """A temporary file beside the target, renamed onto it only when the write completed."""
        target = self._path(key)
        tmp = target.with_name(f"{_TMP_PREFIX}{target.name}-{_TMP_TAG}{os.getpid()}-{next(_TMP_SERIAL)}")
        fd = _create(tmp, target.parent)
        written = 0
        try:
            try:
                for chunk in chunks:
                    written += _write_all(fd, chunk)
            finally:
                os.close(fd)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return written

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def get_many(self, keys: Sequence[str]) -> list[bytes]:
        """One after another: a local read costs no round trip, and threads measured slower here
        (``bench/descriptor_reads.py``)."""
        return [self.get(key) for key in keys]

    def open(self, key: str) -> BinaryIO:
        try:
            return cast(BinaryIO, self._path(key).open("rb"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

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
                if name.startswith(_TMP_PREFIX):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key


def _create(path: Path, folder: Path) -> int:
    """Open a new file; its folder is made only when missing (the open says so), not checked first."""
    try:
        return os.open(path, _CREATE, _MODE)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(path, _CREATE, _MODE)


def _write_all(fd: int, chunk: bytes) -> int:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]
    return len(chunk)
