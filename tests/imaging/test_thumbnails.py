"""Thumbnails: size, orientation, format, alpha, reduced-scale JPEG decoding and bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgremover.imaging.decode import ImageDecodeError, decode_image
from bgremover.imaging.thumbnails import make_thumbnail, render_thumbnail


def _jpeg(image: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def camera_jpeg(shared_data: Path) -> bytes:
    """A 3000x2000 photo-like JPEG (a real photo, enlarged)."""
    photo = Image.open(shared_data / "sod300" / "images" / "100075.jpg").convert("RGB")
    return _jpeg(photo.resize((3000, 2000), Image.Resampling.BICUBIC))


def test_long_side_and_aspect_ratio(camera_jpeg: bytes) -> None:
    thumb = make_thumbnail(camera_jpeg, long_side=256)
    decoded = Image.open(io.BytesIO(thumb.data))
    assert (thumb.width, thumb.height) == decoded.size == (256, 171)
    assert decoded.format == "WEBP"
    assert thumb.media_type == "image/webp"


def test_jpeg_is_decoded_at_reduced_scale_but_covers_the_thumbnail(camera_jpeg: bytes) -> None:
    drafted = decode_image(camera_jpeg, min_side=256)
    assert drafted.size == (750, 500)  # libjpeg's 1/4 scale: 1/8 would leave the short side under 256
    assert decode_image(camera_jpeg).size == (3000, 2000)


def _oriented_jpeg(orientation: int) -> bytes:
    """Stored landscape, top half red and bottom half blue, with an EXIF orientation tag."""
    pixels = np.zeros((200, 300, 3), np.uint8)
    pixels[:100] = (255, 0, 0)
    pixels[100:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg(Image.fromarray(pixels), exif=exif.tobytes())


def test_exif_orientation_is_applied_and_not_carried_over() -> None:
    thumb = make_thumbnail(_oriented_jpeg(6), long_side=150, fmt="jpeg")  # 6: rotate 90 degrees clockwise
    decoded = Image.open(io.BytesIO(thumb.data))
    assert decoded.size == (100, 150)
    rgb = np.asarray(decoded.convert("RGB")).astype(int)
    assert rgb[75, 10, 2] > 200 > rgb[75, 10, 0]  # stored bottom (blue) is now on the left
    assert rgb[75, 90, 0] > 200 > rgb[75, 90, 2]
    assert not decoded.getexif().get(0x0112)
    assert "icc_profile" not in decoded.info


def test_jpeg_output_puts_transparency_on_white_and_webp_keeps_it() -> None:
    rgba = Image.new("RGBA", (40, 20), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 20, 20))
    as_jpeg = Image.open(io.BytesIO(render_thumbnail(rgba, long_side=40, fmt="jpeg").data))
    assert as_jpeg.mode == "RGB"
    assert np.asarray(as_jpeg)[10, 30].min() > 240
    as_webp = Image.open(io.BytesIO(render_thumbnail(rgba, long_side=40, fmt="webp", quality=100).data))
    assert as_webp.mode == "RGBA"
    assert as_webp.getpixel((30, 10))[3] == 0


def test_small_images_are_never_enlarged(shared_data: Path) -> None:
    tiny = shared_data / "formats" / "foo3x5x4indexed.png"
    thumb = make_thumbnail(tiny, long_side=512)
    assert max(thumb.width, thumb.height) == max(Image.open(tiny).size)


def test_bad_input_is_a_precise_error() -> None:
    with pytest.raises(ImageDecodeError) as err:
        make_thumbnail(b"this is not an image")
    assert err.value.code == "not-an-image"
    with pytest.raises(ValueError, match="long_side"):
        render_thumbnail(Image.new("RGB", (4, 4)), long_side=0)
