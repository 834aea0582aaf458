"""The photos of one submit, from paths, bytes or binary file objects, as multipart parts that httpx
streams in chunks: a path is opened only while its request is sent, never read whole into memory.

A submit may be sent more than once (retries), so every source must be readable again from its start:
paths and bytes always are, a file object when it is seekable. An unseekable stream (a pipe, a socket)
is sent once and its submit is not retried; a direct upload, which declares every size first, refuses
one."""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeAlias

FileInput: TypeAlias = str | os.PathLike[str] | bytes | BinaryIO | tuple[str, bytes | BinaryIO]
Part: TypeAlias = tuple[str, tuple[str, BinaryIO, str]]


@dataclass(frozen=True, slots=True)
class Source:
    filename: str
    path: Path | None = None
    data: bytes | None = None
    stream: BinaryIO | None = None

    @property
    def replayable(self) -> bool:
        return self.stream is None or self.stream.seekable()

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"

    def open(self, stack: ExitStack) -> BinaryIO:
        if self.path is not None:
            return stack.enter_context(self.path.open("rb"))
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.stream is not None
        return self.stream  # httpx rewinds a seekable stream before each multipart send

    def size(self) -> int:
        """Its bytes, from its start: a direct upload declares every photo's size before sending it."""
        if self.path is not None:
            return self.path.stat().st_size
        if self.data is not None:
            return len(self.data)
        assert self.stream is not None
        if not self.stream.seekable():
            raise ValueError(f"{self.filename!r}: a direct upload needs a sized source, not a pipe")
        return self.stream.seek(0, io.SEEK_END)

    def chunks(self, stack: ExitStack, size: int = 64 * 1024) -> Iterator[bytes]:
        """The whole source in chunks, from its start (again on a retry), never read whole."""
        reader = self.open(stack)
        if self.stream is not None:
            reader.seek(0)
        return iter(lambda: reader.read(size), b"")


def _source(item: FileInput, position: int) -> Source:
    if isinstance(item, tuple):
        name, content = item
        return Source(name, data=content) if isinstance(content, bytes) else Source(name, stream=content)
    if isinstance(item, str | os.PathLike):
        path = Path(item)
        return Source(path.name, path=path)
    if isinstance(item, bytes | bytearray | memoryview):
        return Source(f"image-{position:04d}", data=bytes(item))
    name = getattr(item, "name", None)
    filename = Path(name).name if isinstance(name, str) else f"image-{position:04d}"
    return Source(filename, stream=item)


@dataclass(frozen=True, slots=True)
class Uploads:
    """The photos of one logical submit, ready to be sent any number of times."""

    sources: tuple[Source, ...]

    @classmethod
    def of(cls, files: FileInput | Iterable[FileInput]) -> Uploads:
        single = isinstance(files, str | os.PathLike | bytes | tuple) or hasattr(files, "read")
        items = [files] if single else list(files)  # type: ignore[arg-type]
        if not items:
            raise ValueError("a submit needs at least one image")
        return cls(tuple(_source(item, position) for position, item in enumerate(items, 1)))

    @property
    def replayable(self) -> bool:
        return all(source.replayable for source in self.sources)

    @contextmanager
    def parts(self) -> Iterator[list[Part]]:
        """The ``images`` parts for one send; files opened here are closed when it is over."""
        with ExitStack() as stack:
            yield [
                ("images", (source.filename, source.open(stack), source.content_type))
                for source in self.sources
            ]
