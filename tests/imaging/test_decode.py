"""Decoding: every odd input becomes 8-bit RGB(A) in sRGB, or a precise ImageDecodeError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from bgremover.imaging.decode import ImageDecodeError, decode_image, sniff_image_type


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and carries (almost) no pixels: the shape of a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _sample_files(shared_data: Path) -> list[Path]:
    return sorted(p for p in (shared_data / "formats").iterdir() if p.name != "truncated.jpg")


def test_every_sample_format_decodes_to_rgb_or_rgba(shared_data: Path) -> None:
    files = _sample_files(shared_data)
    assert len(files) >= 30
    for path in files:
        with Image.open(path) as raw:
            size = raw.size
        image = decode_image(path)
        assert image.mode in ("RGB", "RGBA"), path.name
        assert image.size == size, path.name


@pytest.mark.parametrize(
    ("name", "mode"), [("horse.png", "RGBA"), ("foo3x5x4indexed.png", "RGBA"), ("camera.png", "RGB")]
)
def test_alpha_is_kept_and_grey_becomes_rgb(shared_data: Path, name: str, mode: str) -> None:
    assert decode_image(shared_data / "formats" / name).mode == mode


def test_truncated_jpeg_is_reported_as_truncated(shared_data: Path) -> None:
    with pytest.raises(ImageDecodeError) as err:
        decode_image(shared_data / "formats" / "truncated.jpg")
    assert err.value.code == "truncated"
    assert "truncated" in str(err.value)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"name,price\nmug,3\n", "not-an-image"),
        (b"\x00\x00\x00\x18ftypheic" + b"\0" * 64, "unsupported-format"),
        (_png_header_only(30000, 30000), "too-many-pixels"),
    ],
)
def test_bad_inputs_get_precise_codes(data: bytes, code: str) -> None:
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data)
    assert err.value.code == code
    assert isinstance(err.value, ValueError)


def test_pixel_limit_is_configurable_and_checked_before_decoding() -> None:
    data = _encoded(Image.new("RGB", (100, 100)), "PNG")
    assert decode_image(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(ImageDecodeError, match="10,001 pixels") as err:
        decode_image(_encoded(Image.new("RGB", (10_001, 1)), "PNG"), max_pixels=10_000)
    assert err.value.code == "too-many-pixels"


def test_corrupt_pixel_data_is_reported_as_corrupt() -> None:
    data = bytearray(_encoded(Image.new("RGB", (64, 64), (10, 200, 30)), "PNG"))
    start = data.index(b"IDAT") + 8
    data[start : start + 12] = b"\xff" * 12
    with pytest.raises(ImageDecodeError) as err:
        decode_image(bytes(data))
    assert err.value.code == "corrupt"


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(_encoded(image, "JPEG", exif=exif.tobytes()))
    assert decoded.size == (20, 40)


def test_cmyk_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in print colours
    decoded = decode_image(_encoded(cmyk, "JPEG", quality=95))
    assert decoded.mode == "RGB"
    r, g, b = decoded.getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    decoded = decode_image(_encoded(Image.fromarray(values), "PNG"))
    assert decoded.mode == "RGB"
    assert [decoded.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_icc_profile_is_converted_to_srgb(shared_data: Path) -> None:
    path = shared_data / "formats" / "color.png"  # carries a "Color LCD" display profile
    with Image.open(path) as raw:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(raw.info["icc_profile"]))
        expected = ImageCms.profileToProfile(raw.convert("RGB"), profile, ImageCms.createProfile("sRGB"))
        naive = np.asarray(raw.convert("RGB"))
    decoded = np.asarray(decode_image(path))
    assert np.array_equal(decoded, np.asarray(expected))
    assert not np.array_equal(decoded, naive)


def test_paths_bytes_and_file_objects_are_accepted(shared_data: Path) -> None:
    path = shared_data / "formats" / "rocket.jpg"
    with path.open("rb") as fh:
        from_file = decode_image(fh)
    assert decode_image(str(path)).size == decode_image(path.read_bytes()).size == from_file.size


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"\x00\x00\x00\x1cftypavif", "image/avif"),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_sniff_image_type(head: bytes, mime: str | None) -> None:
    assert sniff_image_type(head) == mime


def test_sixteen_bit_colour_becomes_8_bit_rgb() -> None:
    import cv2

    bgr = np.zeros((4, 4, 3), np.uint16)
    bgr[..., 2] = 65535  # red, in OpenCV's channel order
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    decoded = decode_image(png.tobytes())
    assert decoded.mode == "RGB"
    assert decoded.getpixel((0, 0)) == (255, 0, 0)
