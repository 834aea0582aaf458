"""Decoding that users can trust: one function every entry point (CLI, API, workers) goes through.

Whatever arrives, the caller gets an 8-bit RGB or RGBA image in sRGB, the right way up, or an
:class:`ImageDecodeError` whose ``code`` says precisely what was wrong. The pixel limit is checked on
the header, before any pixel is decoded, so a decompression bomb costs nothing."""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 100_000_000
_SRGB = ImageCms.createProfile("sRGB")
# signature, its offset, the MIME type, and the Pillow plugins allowed to parse it
_MAGIC: tuple[tuple[bytes, int, str, tuple[str, ...]], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", ("JPEG",)),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ("PNG",)),
    (b"GIF87a", 0, "image/gif", ("GIF",)),
    (b"GIF89a", 0, "image/gif", ("GIF",)),
    (b"WEBP", 8, "image/webp", ("WEBP",)),
    (b"BM", 0, "image/bmp", ("BMP",)),
    (b"II*\x00", 0, "image/tiff", ("TIFF",)),
    (b"MM\x00*", 0, "image/tiff", ("TIFF",)),
    (b"ftypavif", 4, "image/avif", ("AVIF",)),
    (b"ftypavis", 4, "image/avif", ("AVIF",)),
    (b"ftypheic", 4, "image/heic", ("HEIF",)),
    (b"ftypheix", 4, "image/heic", ("HEIF",)),
    (b"ftypmif1", 4, "image/heif", ("AVIF", "HEIF")),  # the generic brand of AVIF files too
    (b"\x00\x00\x01\x00", 0, "image/x-icon", ("ICO",)),
)
# What Pillow's parsers and codecs raise on hostile bytes: the AVIF codec raises RuntimeError (and a
# parser recursing on crafted data would raise RecursionError, a RuntimeError too).
_PARSE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, RuntimeError)


class ImageDecodeError(ValueError):
    """A file that cannot become an image. ``code`` is one of ``empty``, ``not-an-image``,
    ``unsupported-format``, ``truncated``, ``corrupt``, ``too-many-pixels``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _signature(head: bytes) -> tuple[str, tuple[str, ...]] | None:
    """(MIME type, Pillow formats) named by the file's magic bytes (the first 16 suffice), or None."""
    for magic, offset, mime, pillow_formats in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime, pillow_formats
    return None


def sniff_image_type(head: bytes) -> str | None:
    """The MIME type named by the file's magic bytes (the first 16 bytes suffice), or None."""
    found = _signature(head)
    return found[0] if found else None


def _open_signed(file: BinaryIO, head: bytes) -> Image.Image:
    """``Image.open`` restricted to the plugins of the file's signature, so a damaged PNG is not handed
    to every other parser Pillow has (each more attack surface) and its error names the PNG's defect.
    A file without a known signature (the CLI's, never the API's) may be any format Pillow reads."""
    found = _signature(head)
    formats = None
    if found is not None:
        if not set(found[1]) <= Image.OPEN.keys():
            Image.init()  # the plugins beyond the few Pillow preloads
        formats = [name for name in found[1] if name in Image.OPEN]
        if not formats:  # HEIC without pillow-heif
            raise ImageDecodeError("unsupported-format", f"{found[0]} could not be decoded by this server")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(file, formats=formats)


def _read(source: bytes | os.PathLike[str] | str | BinaryIO) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:  # noqa: PTH123  (str or PathLike alike)
            return fh.read()
    return source.read()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    found = _signature(data[:16])
    mime = found[0] if found else None
    try:
        image = _open_signed(io.BytesIO(data), data[:16])
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("too-many-pixels", f"image declares too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        if found is None:
            raise ImageDecodeError("not-an-image", "not an image (no known image signature)") from exc
        raise ImageDecodeError("corrupt", f"{mime} is corrupt: its header could not be read") from exc
    except _PARSE_ERRORS as exc:
        raise _load_error(exc, mime) from exc
    width, height = image.size
    _check_pixels(width, height, max_pixels)
    if width == 0 or height == 0:
        raise ImageDecodeError("corrupt", f"image declares an empty size {width}x{height}")
    return image


def check_pixel_count(file: BinaryIO, max_pixels: int) -> None:
    """Refuse a decompression bomb from its header alone, before it is stored or queued. Other
    defects (truncated, corrupt) are left to ``decode_image`` in the worker, which names them per image."""
    position = file.tell()
    head = file.read(16)
    file.seek(position)
    try:
        with _open_signed(file, head) as image:
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("too-many-pixels", f"image declares too many pixels: {exc}") from exc
    except (UnidentifiedImageError, *_PARSE_ERRORS):  # ImageDecodeError too: the worker names those
        return
    finally:
        file.seek(position)
    _check_pixels(width, height, max_pixels)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageDecodeError(
            "too-many-pixels",
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}",
        )


def _load_error(exc: BaseException, mime: str | None) -> ImageDecodeError:
    kind = mime or "image"
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return ImageDecodeError("truncated", f"{kind} is truncated: the file ends before the image data does")
    return ImageDecodeError("corrupt", f"{kind} is corrupt: {exc}")


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    return ImageCms.getProfileDescription(profile).strip().lower().startswith("srgb")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert through the embedded ICC profile (wide-gamut phone photos, CMYK print files); an sRGB
    profile is skipped, since the conversion would be an expensive identity."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    base = image.convert(image.mode[:-1]) if alpha is not None else image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if _is_srgb(profile):
            return image
        converted = ImageCms.profileToProfile(base, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile must not lose the photo: keep the device values
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _high_depth_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale: scale to 8 bits (Pillow's convert("L") would clip, not scale)."""
    values = np.asarray(image)
    if image.mode == "F":
        top = 1.0 if float(values.max(initial=0.0)) <= 1.0 else 255.0
        scaled = np.clip(values / top * 255.0, 0, 255)
    else:
        scaled = np.clip(values.astype(np.float32) / 257.0, 0, 255)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), "L")


def _to_base_mode(image: Image.Image) -> Image.Image:
    """Reduce Pillow's many modes to L, LA, RGB, RGBA or CMYK, keeping transparency."""
    if image.mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _high_depth_to_8bit(image)
    has_alpha = image.mode in ("PA", "La", "RGBa") or "transparency" in image.info
    if image.mode in ("1", "P", "PA") and not has_alpha:
        return image.convert("RGB" if image.mode != "1" else "L")
    return image.convert("RGBA" if has_alpha else "RGB")


def decode_image(
    source: bytes | os.PathLike[str] | str | BinaryIO,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
) -> Image.Image:
    """Bytes, a path or a binary file to an RGB/RGBA sRGB image with EXIF orientation applied.

    ``min_side``: the caller will downscale to about this long side anyway (thumbnails), so a JPEG may
    be decoded at 1/2, 1/4 or 1/8 scale by libjpeg (draft mode) as long as both sides stay at least
    this large; several times faster on camera photos."""
    data = _read(source)
    if not data:
        raise ImageDecodeError("empty", "the file is empty (0 bytes)")
    image = _open(data, max_pixels)
    if min_side is not None and image.format == "JPEG":
        image.draft(None, (min_side, min_side))
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_srgb(_to_base_mode(image))
        return (
            image if image.mode in ("RGB", "RGBA") else image.convert("RGBA" if image.mode == "LA" else "RGB")
        )
    except ImageDecodeError:
        raise
    except _PARSE_ERRORS as exc:
        raise _load_error(exc, sniff_image_type(data[:16])) from exc
