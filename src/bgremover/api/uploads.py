"""Reading a submission: multipart parts spooled (1 MB in memory, then disk) or a JSON body with
base64 images, checked against the limits and sniffed before anything is stored.

Everything here runs before a job exists, so a bad request costs the service no ledger row and no
blob: too many or too large files are 413, bytes that are no image we decode are 415, a malformed
body is 400. The total size, and each file part's size, are enforced while the body streams in, so an
oversized upload is cut off at the limit rather than read to its end.

A slow client (a slowloris-style upload trickling bytes) cannot hold the request forever: a gap
between body chunks longer than ``BGR_UPLOAD_IDLE_TIMEOUT_S``, or a body still arriving after
``BGR_UPLOAD_TIMEOUT_S``, is ``408 request-timeout`` (with ``Connection: close``); the spooled parts are
closed (their temporary files go with them) and no job exists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import anyio
from fastapi import Request
from pydantic_core import from_json
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from bgremover.api.problems import ProblemError, refusal
from bgremover.imaging.decode import ImageDecodeError, check_pixel_count, sniff_image_type
from bgremover.settings import Settings

IMAGES_FIELD = "images"
UPLOADS_FIELD = "uploads"  # a submit by reference: the slots of a direct upload (api.direct_uploads)
_SNIFF_BYTES = 64
_MAX_FILENAME = 255
_MAX_OPTION_FIELDS = 50
_HASH_CHUNK = 1024 * 1024


@dataclass(slots=True)
class StagedImage:
    """An accepted upload, not yet stored: ``file`` is positioned at 0 and closed by ``close``.
    ``roi`` is the image's own region of interest as the client sent it (JSON bodies), unvalidated."""

    filename: str
    content_type: str
    size: int
    file: BinaryIO
    roi: object = None

    def sha256(self) -> str:
        digest = hashlib.sha256()
        self.file.seek(0)
        while chunk := self.file.read(_HASH_CHUNK):
            digest.update(chunk)
        self.file.seek(0)
        return digest.hexdigest()

    def close(self) -> None:
        self.file.close()


@dataclass(slots=True)
class Submission:
    images: list[StagedImage]
    options: dict[str, Any]

    def close(self) -> None:
        for image in self.images:
            image.close()


@dataclass(slots=True)
class References:
    """A JSON submit naming upload slots instead of carrying photos (``{"uploads": [slot, ...]}``):
    nothing is staged here; ``bgremover.api.direct_uploads`` checks the stored photos."""

    slots: list[Any]
    options: dict[str, Any]


def _too_large(detail: str, **extensions: Any) -> ProblemError:
    return ProblemError(413, "payload-too-large", detail, **extensions)


def _safe_filename(raw: str | None, position: int) -> str:
    """The client's file name as metadata only (never part of a storage key): its last path
    component without control characters (NUL cannot even be stored in PostgreSQL), trimmed; a
    placeholder when there is none."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:_MAX_FILENAME] or f"image-{position + 1}"


def _timed_out(detail: str) -> ProblemError:
    return refusal("timeout", 408, "request-timeout", detail, headers={"Connection": "close"})


def _declared_over(declared: str, limit: int) -> bool:
    """Whether a ``Content-Length`` says more than ``limit`` bytes. A value that is not ASCII decimal is
    left to the count while the body streams (``str.isdigit`` accepts '²', and ``int`` refuses more
    than 4,300 digits: neither may raise here)."""
    if not (declared.isascii() and declared.isdigit()):
        return False
    digits = declared.lstrip("0")
    return len(digits) > len(str(limit)) or int(digits or "0") > limit


async def _bounded(request: Request, settings: Settings) -> AsyncIterator[bytes]:
    """The body's chunks, cut off at the size limit and at the slow-client timeouts."""
    limit = settings.max_request_bytes
    declared = request.headers.get("content-length", "")
    if _declared_over(declared, limit):
        raise _too_large(f"request body of {declared} bytes exceeds the limit of {limit} bytes", limit=limit)
    idle, deadline = settings.upload_idle_timeout_s, time.monotonic() + settings.upload_timeout_s
    received = 0
    chunks = request.stream().__aiter__()
    while True:
        wait = min(idle, deadline - time.monotonic())
        try:
            with anyio.fail_after(max(wait, 0)):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            if wait < idle:
                raise _timed_out(
                    f"the request body took longer than {settings.upload_timeout_s:g} s to arrive"
                ) from None
            raise _timed_out(f"no request body bytes arrived for {idle:g} s") from None
        received += len(chunk)
        if received > limit:
            raise _too_large(f"request body exceeds the limit of {limit} bytes", limit=limit)
        yield chunk


def _check_count(count: int, settings: Settings) -> None:
    if count == 0:
        raise ProblemError(400, "no-images", f"send at least one image in the '{IMAGES_FIELD}' field")
    if count > settings.max_images_per_request:
        raise _too_large(
            f"{count} images exceed the limit of {settings.max_images_per_request} per request",
            limit=settings.max_images_per_request,
        )


def check_image_size(filename: str, size: int, settings: Settings) -> None:
    """The per-image byte limit (``BGR_MAX_IMAGE_BYTES``), 413 naming the photo: one rule for a photo
    staged from a submit, a direct upload's declared size and its stored photo, so the paths cannot
    answer the same photo differently."""
    if size > settings.max_image_bytes:
        raise _too_large(
            f"image {filename!r} has {size} bytes, over the limit of {settings.max_image_bytes}",
            filename=filename,
            limit=settings.max_image_bytes,
        )


def _stage(filename: str, file: BinaryIO, size: int, settings: Settings, roi: object = None) -> StagedImage:
    check_image_size(filename, size, settings)
    if size == 0:
        raise ProblemError(400, "empty-file", f"{filename!r} is empty (0 bytes)", filename=filename)
    file.seek(0)
    content_type = sniff_image_type(file.read(_SNIFF_BYTES))
    file.seek(0)
    if content_type is None:
        raise ProblemError(
            415,
            "unsupported-media-type",
            f"{filename!r} is not an image type the service decodes (its bytes were checked, not its name)",
            filename=filename,
        )
    _refuse_hostile(filename, file, settings)
    return StagedImage(filename, content_type, size, file, roi)


def _refuse_hostile(filename: str, file: BinaryIO, settings: Settings) -> None:
    """Refuse, before anything is stored, a decompression bomb (from its header) and a polyglot: an
    image that is also a ZIP archive would be served back as an image while carrying an archive."""
    max_pixels = int(settings.max_image_megapixels * 1_000_000)
    try:
        check_pixel_count(file, max_pixels)
    except ImageDecodeError as exc:
        raise ProblemError(413, "too-many-pixels", str(exc), filename=filename, limit=max_pixels) from exc
    is_zip = zipfile.is_zipfile(file)
    file.seek(0)
    if is_zip:
        raise ProblemError(
            415, "polyglot-file", f"{filename!r} is both an image and a ZIP archive", filename=filename
        )


async def read_submission(request: Request, settings: Settings) -> Submission | References:
    """The images and raw options of a submit request; raises ``ProblemError`` on any bad input."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return await _read_multipart(request, settings)
    if media_type == "application/json":
        return await _read_json(request, settings)
    raise ProblemError(
        415, "unsupported-media-type", "send multipart/form-data or application/json (base64 images)"
    )


class _PartSizeLimitedParser(MultiPartParser):
    """Starlette's parser, with each file part cut off at ``BGR_MAX_IMAGE_BYTES`` as it streams (the
    stock parser bounds only non-file fields), so one huge part is refused before it is spooled."""

    def __init__(self, *args: Any, max_file_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_file_bytes = max_file_bytes
        self._file_bytes = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._file_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self._max_file_bytes:
                filename = self._current_part.file.filename
                raise _too_large(
                    f"image {filename!r} exceeds the limit of {self._max_file_bytes} bytes",
                    filename=_safe_filename(filename, self._current_files - 1),
                    limit=self._max_file_bytes,
                )
        super().on_part_data(data, start, end)


async def _read_multipart(request: Request, settings: Settings) -> Submission:
    parser = _PartSizeLimitedParser(
        request.headers,
        _bounded(request, settings),
        max_files=settings.max_images_per_request,
        max_fields=_MAX_OPTION_FIELDS,
        max_file_bytes=settings.max_image_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if str(exc).startswith("Too many files"):
            raise _too_large(str(exc), limit=settings.max_images_per_request) from exc
        raise ProblemError(400, "malformed-multipart", str(exc)) from exc
    uploads: list[UploadFile] = []
    options: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != IMAGES_FIELD:
                    raise ProblemError(400, "unexpected-file", f"file parts must be named '{IMAGES_FIELD}'")
                uploads.append(value)
            elif name in options:
                raise ProblemError(400, "duplicate-field", f"option {name!r} is given more than once")
            elif value.strip():  # an empty form field means "not set", as HTML forms send them
                options[name] = value
        _check_count(len(uploads), settings)
        staged = [
            _stage(_safe_filename(upload.filename, i), upload.file, upload.size or 0, settings)
            for i, upload in enumerate(uploads)
        ]
    except BaseException:
        await form.close()
        raise
    return Submission(staged, options)


async def _read_json(request: Request, settings: Settings) -> Submission | References:
    body = bytearray()
    async for chunk in _bounded(request, settings):
        body.extend(chunk)
    return await run_in_threadpool(_parse_json, bytes(body), settings)


def _parse_json(body: bytes, settings: Settings) -> Submission | References:
    """Parsed by pydantic-core's JSON parser rather than ``json.loads``: it stops at a fixed nesting
    depth (200) instead of recursing until ``RecursionError``, and refuses invalid UTF-8, lone
    surrogates, ``NaN``/``Infinity`` and integers too long to convert, all as plain ``ValueError``."""
    try:
        document = from_json(body, allow_inf_nan=False, cache_strings="keys")
    except ValueError as exc:
        raise ProblemError(400, "malformed-json", f"the body is not valid JSON: {exc}") from exc
    if isinstance(document, dict) and UPLOADS_FIELD in document and IMAGES_FIELD not in document:
        return References(document.pop(UPLOADS_FIELD), document)
    if not isinstance(document, dict) or not isinstance(document.get(IMAGES_FIELD), list):
        raise ProblemError(
            400,
            "malformed-json",
            'expected {"images": [{"filename": ..., "data": <base64>, "roi": optional}], ...options}',
        )
    entries = document.pop(IMAGES_FIELD)
    _check_count(len(entries), settings)
    return Submission([_json_image(entry, i, settings) for i, entry in enumerate(entries)], document)


def _json_image(entry: Any, position: int, settings: Settings) -> StagedImage:
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), str):
        raise ProblemError(400, "malformed-json", f"images[{position}] needs a base64 'data' string")
    filename = _safe_filename(
        entry.get("filename") if isinstance(entry.get("filename"), str) else None, position
    )
    try:
        data = base64.b64decode(entry["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProblemError(
            400,
            "malformed-base64",
            f"images[{position}] ({filename!r}) is not valid base64",
            filename=filename,
        ) from exc
    return _stage(filename, io.BytesIO(data), len(data), settings, entry.get("roi"))
