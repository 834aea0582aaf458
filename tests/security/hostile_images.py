"""A corpus of hostile images, generated (never committed): each entry is a small valid image of a
supported format turned into one class of attack on the decoder. Every generator is deterministic, so
a failing entry is named by its id and rebuilt exactly."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

# The formats the API accepts (``imaging.decode``'s signatures) that this Pillow can write.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "AVIF")
SIDE = 24


def encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (SIDE, SIDE), **params: object) -> bytes:
    """A small image with some structure (a gradient, so codecs really encode something)."""
    ramp = np.linspace(0, 255, size[0] * size[1] * 3, dtype=np.float32).reshape(size[1], size[0], 3)
    image = Image.fromarray(ramp.astype(np.uint8), "RGB").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 8
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunks.append((data[position + 4 : position + 8], data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def _png(chunks: list[tuple[bytes, bytes]], bad_crc_of: bytes | None = None) -> bytes:
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, data in chunks:
        out.append(_png_chunk(kind, data, crc=0xDEADBEEF if kind == bad_crc_of else None))
    return b"".join(out)


def _png_with(
    extra: list[tuple[bytes, bytes]], before: bytes = b"IDAT", source: bytes | None = None
) -> bytes:
    """A PNG with ``extra`` chunks inserted before its first ``before`` chunk."""
    chunks = _png_chunks(source or encoded("PNG"))
    at = next(i for i, (kind, _) in enumerate(chunks) if kind == before)
    return _png(chunks[:at] + extra + chunks[at:])


# --- absurd dimensions, one patch per format --------------------------------------------------------


def _png_size(width: int, height: int) -> bytes:
    chunks = _png_chunks(encoded("PNG"))
    ihdr = struct.pack(">II", width & 0xFFFFFFFF, height & 0xFFFFFFFF) + chunks[0][1][8:]
    return _png([(b"IHDR", ihdr), *chunks[1:]])


def _jpeg_size(width: int, height: int) -> bytes:
    data = bytearray(encoded("JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
    return bytes(data)


def _gif_size(width: int, height: int) -> bytes:
    data = bytearray(encoded("GIF"))
    size = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    data[6:10] = size  # the logical screen
    descriptor = data.find(b"\x2c")
    data[descriptor + 5 : descriptor + 9] = size
    return bytes(data)


def _bmp_size(width: int, height: int) -> bytes:
    data = bytearray(encoded("BMP"))
    data[18:26] = struct.pack("<ii", width, max(min(height, 2**31 - 1), -(2**31)))
    return bytes(data)


def _tiff_size(width: int, height: int) -> bytes:
    """A TIFF whose ImageWidth and ImageLength entries are rewritten as LONGs of the given values."""
    data = bytearray(encoded("TIFF"))
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        (tag,) = struct.unpack("<H", data[entry : entry + 2])
        if tag in (256, 257):
            value = (width if tag == 256 else height) & 0xFFFFFFFF
            data[entry + 2 : entry + 12] = struct.pack("<HII", 4, 1, value)
    return bytes(data)


def _webp_size(width: int, height: int) -> bytes:
    """A lossless WebP whose VP8L header says ``width`` x ``height`` (14 bits each, at most 16384)."""
    data = bytearray(encoded("WEBP", lossless=True))
    vp8l = data.find(b"VP8L") + 8
    bits = (
        (max(min(width, 16384), 1) - 1)
        | ((max(min(height, 16384), 1) - 1) << 14)
        | (data[vp8l + 4] >> 4 << 28)
    )
    data[vp8l + 1 : vp8l + 5] = struct.pack("<I", bits)
    return bytes(data)


def _ico_size(width: int, height: int) -> bytes:
    data = bytearray(encoded("ICO", sizes=[(16, 16)]))
    data[6:8] = bytes([width % 256, height % 256])
    bmp = struct.unpack("<I", data[18:22])[0]
    data[bmp + 4 : bmp + 12] = struct.pack("<ii", width, min(height, 2**30 - 1) * 2)
    return bytes(data)


ABSURD_SIZE: dict[str, Callable[[int, int], bytes]] = {
    "PNG": _png_size,
    "JPEG": _jpeg_size,
    "GIF": _gif_size,
    "BMP": _bmp_size,
    "TIFF": _tiff_size,
    "WEBP": _webp_size,
    "ICO": _ico_size,
}
ABSURD_DIMENSIONS = [
    (65535, 65535),
    (2**31 - 1, 1),
    (1, 2**31 - 1),
    (0, 10),
    (10, 0),
    (-5, 7),
    (16384, 16384),
]


# --- the corpus ---------------------------------------------------------------------------------------


def _palette_out_of_range() -> bytes:
    """A paletted PNG with two palette entries and pixel indexes up to 255."""
    indexes = np.arange(SIDE * SIDE, dtype=np.uint8).reshape(SIDE, SIDE)
    image = Image.fromarray(indexes, "P")
    image.putpalette([255, 0, 0, 0, 0, 255])  # two colours
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    chunks = [(k, d[:6] if k == b"PLTE" else d) for k, d in _png_chunks(buffer.getvalue())]
    return _png(chunks)


def _gif_palette_out_of_range() -> bytes:
    data = bytearray(encoded("GIF", mode="P"))
    data[10] = data[10] & 0b11111000  # global colour table of 2 entries; the pixels still use up to 255
    return bytes(data[:13] + data[13 : 13 + 6] + data[13 + 3 * 256 :])


def _huge_icc_png(size: int) -> bytes:
    return _png_with([(b"iCCP", b"evil\x00\x00" + zlib.compress(bytes(size)))])


def _huge_icc_jpeg(size: int) -> bytes:
    return encoded("JPEG", icc_profile=np.random.default_rng(17).bytes(size))


def _exif(orientation: int, *, loop: bool = False, count: int = 1) -> bytes:
    """A little-endian TIFF header with one IFD: Orientation, optionally an IFD that points to itself."""
    entries = struct.pack("<HHIHH", 0x0112, 3, count, orientation, 0)
    next_ifd = 8 if loop else 0
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entries + struct.pack("<I", next_ifd)


def _jpeg_with_exif(exif: bytes) -> bytes:
    data = encoded("JPEG")
    app1 = b"Exif\x00\x00" + exif
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def _png_with_exif(exif: bytes) -> bytes:
    return _png_with([(b"eXIf", exif)])


def _text_bomb(size: int) -> bytes:
    return _png_with([(b"zTXt", b"Comment\x00\x00" + zlib.compress(bytes(size), 9))])


def _animated_gif(frames: int) -> bytes:
    """A GIF of ``frames`` frames: the one frame block of a small GIF repeated (no encoder run per frame)."""
    data = encoded("GIF", size=(2, 2))
    start = data.find(b"\x21\xf9") if b"\x21\xf9" in data else data.find(b"\x2c")
    return data[:start] + data[start:-1] * frames + b";"


def _apng_claiming(frames: int) -> bytes:
    """A PNG whose acTL chunk claims ``frames`` frames (and loops forever) while carrying one."""
    return _png_with([(b"acTL", struct.pack(">II", frames, 0))])


def _png_declaring_bomb(side: int) -> bytes:
    """A PNG header of ``side`` x ``side`` pixels over a few bytes of data: refused from the header."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return _png([(b"IHDR", header), (b"IDAT", zlib.compress(bytes(64))), (b"IEND", b"")])


def _png_black(side: int) -> bytes:
    """A real black greyscale PNG of ``side`` x ``side``: a few KB of file, ``side``² bytes decoded."""
    idat = zlib.compress((b"\x00" + bytes(side)) * side, 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return _png([(b"IHDR", header), (b"IDAT", idat), (b"IEND", b"")])


@functools.cache
def corpus() -> dict[str, bytes]:
    """Every hostile image by id (built once, in about a second), truncations and byte corruptions
    excepted: the fuzz tests draw those from every offset."""
    return dict(_hostile())


def _hostile() -> Iterator[tuple[str, bytes]]:
    for fmt, patch in ABSURD_SIZE.items():
        for width, height in ABSURD_DIMENSIONS:
            yield f"{fmt.lower()}-{width}x{height}", patch(width, height)
    png = encoded("PNG")
    for kind, _ in _png_chunks(png):
        yield f"png-bad-crc-{kind.decode()}", _png(_png_chunks(png), bad_crc_of=kind)
    yield "png-palette-index-out-of-range", _palette_out_of_range()
    yield "gif-palette-index-out-of-range", _gif_palette_out_of_range()
    yield "png-icc-16mb", _huge_icc_png(16 * 2**20)
    yield "png-icc-900kb", _huge_icc_png(900 * 2**10)  # under Pillow's text-chunk cap: parsed as a profile
    yield "png-icc-garbage", _png_with([(b"iCCP", b"p\x00\x00" + zlib.compress(b"\xff" * 5000))])
    yield "jpeg-icc-1mb-random", _huge_icc_jpeg(2**20)
    for orientation in (0, 9, 65535):
        yield f"jpeg-exif-orientation-{orientation}", _jpeg_with_exif(_exif(orientation))
        yield f"png-exif-orientation-{orientation}", _png_with_exif(_exif(orientation))
    yield "jpeg-exif-ifd-loop", _jpeg_with_exif(_exif(6, loop=True))
    yield "jpeg-exif-count-2e9", _jpeg_with_exif(_exif(6, count=2_000_000_000))
    yield "jpeg-exif-64kb-garbage", _jpeg_with_exif(b"II*\x00" + bytes(range(256)) * 250)
    yield "png-exif-garbage", _png_with_exif(b"MM\x00*\xff\xff\xff\xff" + bytes(64))
    yield "png-ztxt-64mb", _text_bomb(64 * 2**20)
    yield "gif-5000-frames", _animated_gif(5000)
    yield "apng-claims-2e31-frames", _apng_claiming(2**31 - 1)
    yield "png-bomb-20000x20000", _png_declaring_bomb(20_000)
    yield "png-black-2000x2000", _png_black(2000)
    yield "png-16bit-greyscale", encoded("PNG", mode="I;16")
    yield "tiff-cmyk", encoded("TIFF", mode="CMYK")
    yield "tiff-float", _tiff_float()


def _tiff_float() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), np.inf, dtype=np.float32), "F").save(buffer, format="TIFF")
    return buffer.getvalue()


@functools.cache
def valid_samples() -> dict[str, bytes]:
    """One valid small image per format, the starting point of truncation and corruption."""
    return {fmt: encoded(fmt) for fmt in FORMATS}
