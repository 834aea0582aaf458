"""The photos of one submit, from paths, bytes or binary file objects, as multipart parts that httpx
streams in chunks: a path is opened only while its request is sent, never read whole into memory.

A submit may be sent more than once (retries), so every source must be readable again from its start:
paths and bytes always are, a file object when it is seekable. An unseekable stream (a pipe, a socket)
is sent once and its submit is not retried."""

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
class _Source:
    filename: str
    path: Path | None = None
    data: bytes | None = None
    stream: BinaryIO | None = None

    @property
    def replayable(self) -> bool:
        return self.stream is None or self.stream.seekable()

    def open(self, stack: ExitStack) -> BinaryIO:
        if self.path is not None:
            return stack.enter_context(self.path.open("rb"))
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.stream is not None
        return self.stream  # httpx rewinds a seekable stream before each send


def _source(item: FileInput, position: int) -> _Source:
    if isinstance(item, tuple):
        name, content = item
        return _Source(name, data=content) if isinstance(content, bytes) else _Source(name, stream=content)
    if isinstance(item, str | os.PathLike):
        path = Path(item)
        return _Source(path.name, path=path)
    if isinstance(item, bytes | bytearray | memoryview):
        return _Source(f"image-{position:04d}", data=bytes(item))
    name = getattr(item, "name", None)
    filename = Path(name).name if isinstance(name, str) else f"image-{position:04d}"
    return _Source(filename, stream=item)


@dataclass(frozen=True, slots=True)
class Uploads:
    """The photos of one logical submit, ready to be sent any number of times."""

    sources: tuple[_Source, ...]

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
                ("images", (source.filename, source.open(stack), _content_type(source.filename)))
                for source in self.sources
            ]


def _content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
