"""Thumbnails: a fixed long side, the right way up, in sRGB, as WebP or JPEG bytes.

Speed comes from not decoding what will be thrown away: a JPEG is decoded by libjpeg at 1/2, 1/4 or
1/8 scale (draft mode) when the result still covers the thumbnail, and the rest of the reduction is
Pillow's ``reduce`` followed by a Lanczos resize (``reducing_gap``). Orientation and colour space are
handled by :func:`~bgremover.imaging.decode.decode_image`, so the thumbnail carries no EXIF
orientation or ICC profile to misread: its pixels are already upright sRGB.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO, Literal

from PIL import Image

from bgremover.imaging.decode import DEFAULT_MAX_PIXELS, decode_image

ThumbnailFormat = Literal["webp", "jpeg"]
DEFAULT_LONG_SIDE = 512
DEFAULT_QUALITY = 82
_MEDIA_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg"}
_JPEG_MATTE = (255, 255, 255)


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int
    media_type: str


def render_thumbnail(
    image: Image.Image,
    *,
    long_side: int = DEFAULT_LONG_SIDE,
    fmt: ThumbnailFormat = "webp",
    quality: int = DEFAULT_QUALITY,
) -> Thumbnail:
    """Thumbnail of an already decoded RGB/RGBA image; never enlarges it. JPEG has no alpha: white matte."""
    if long_side < 1:
        raise ValueError("long_side must be at least 1 pixel")
    small = image
    if max(image.size) > long_side:
        scale = long_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if fmt == "jpeg" and small.mode == "RGBA":
        matte = Image.new("RGB", small.size, _JPEG_MATTE)
        matte.paste(small, mask=small.getchannel("A"))
        small = matte
    buf = io.BytesIO()
    if fmt == "webp":
        small.save(buf, "WEBP", quality=quality, method=4)
    else:
        small.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
    return Thumbnail(buf.getvalue(), small.width, small.height, _MEDIA_TYPES[fmt])


def make_thumbnail(
    source: bytes | os.PathLike[str] | str | BinaryIO,
    *,
    long_side: int = DEFAULT_LONG_SIDE,
    fmt: ThumbnailFormat = "webp",
    quality: int = DEFAULT_QUALITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Thumbnail:
    """Thumbnail straight from a file's bytes, decoding a JPEG at reduced scale when that suffices.

    Raises :class:`~bgremover.imaging.decode.ImageDecodeError` for anything that is not a usable image."""
    image = decode_image(source, max_pixels=max_pixels, min_side=long_side)
    return render_thumbnail(image, long_side=long_side, fmt=fmt, quality=quality)
