"""Composition on a synthetic image and mask, so every expected pixel is known."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgremover.cutout import CutoutOptions, compose


@pytest.fixture
def image_and_mask() -> tuple[Image.Image, np.ndarray]:
    pixels = np.full((60, 100, 3), (200, 100, 50), np.uint8)
    mask = np.zeros((60, 100), np.uint8)
    mask[20:40, 30:50] = 255
    mask[20:40, 50] = 128  # a soft edge
    return Image.fromarray(pixels), mask


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_default_is_a_transparent_png_cutout(image_and_mask) -> None:
    image, mask = image_and_mask
    out = _open(compose(image, mask, CutoutOptions()))
    assert (out.format, out.mode, out.size) == ("PNG", "RGBA", (100, 60))
    pixels = np.asarray(out)
    assert np.array_equal(pixels[..., 3], mask)
    assert tuple(pixels[30, 40]) == (200, 100, 50, 255)
    assert tuple(pixels[0, 0]) == (0, 0, 0, 0)


def test_mask_only_is_the_single_channel_mask_at_input_size(image_and_mask) -> None:
    image, mask = image_and_mask
    out = _open(compose(image, mask, CutoutOptions(mask_only=True)))
    assert out.mode == "L"
    assert np.array_equal(np.asarray(out), mask)


def test_background_colour_blends_soft_edges(image_and_mask) -> None:
    image, mask = image_and_mask
    out = np.asarray(_open(compose(image, mask, CutoutOptions(bg_color="#0000ff"))))
    assert out.shape == (60, 100, 3)
    assert tuple(out[0, 0]) == (0, 0, 255)
    assert tuple(out[30, 40]) == (200, 100, 50)
    assert tuple(out[30, 50]) == (100, 50, 152)  # 128/255 of the photo over blue


def test_jpg_gets_a_white_background(image_and_mask) -> None:
    image, mask = image_and_mask
    out = _open(compose(image, mask, CutoutOptions(format="jpg")))
    assert (out.format, out.mode) == ("JPEG", "RGB")
    assert all(v > 245 for v in out.getpixel((0, 0)))


def test_crop_with_margin_and_max_size(image_and_mask) -> None:
    image, mask = image_and_mask
    assert _open(compose(image, mask, CutoutOptions(crop=True))).size == (21, 20)  # the 128 edge counts
    assert _open(compose(image, mask, CutoutOptions(crop=True, margin=5))).size == (31, 30)
    assert _open(compose(image, mask, CutoutOptions(crop=True, margin=500))).size == (100, 60)
    assert _open(compose(image, mask, CutoutOptions(max_size=50, format="webp"))).size == (50, 30)


def test_crop_of_an_empty_mask_keeps_the_whole_image(image_and_mask) -> None:
    image, _ = image_and_mask
    empty = np.zeros((60, 100), np.uint8)
    assert _open(compose(image, empty, CutoutOptions(crop=True))).size == (100, 60)


def test_input_alpha_limits_the_output_alpha(image_and_mask) -> None:
    image, mask = image_and_mask
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 100))
    out = np.asarray(_open(compose(rgba, mask, CutoutOptions())))
    assert out[30, 40, 3] == 100
    assert out[0, 0, 3] == 0


def test_mask_of_the_wrong_size_is_refused(image_and_mask) -> None:
    image, mask = image_and_mask
    with pytest.raises(ValueError, match="does not match"):
        compose(image, mask[:10], CutoutOptions())


def test_cropped_transparent_cutout_is_exact_on_random_pixels() -> None:
    """The OpenCV path against the definition: colour kept where alpha > 0, all zero elsewhere, on a
    crop (a non-contiguous view) of noisy pixels and a noisy mask."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (50, 70, 3), np.uint8)
    mask = rng.integers(0, 256, (50, 70), np.uint8)
    mask[rng.random((50, 70)) < 0.3] = 0
    mask[:5], mask[-5:], mask[:, :7] = 0, 0, 0  # a border that the crop removes
    out = np.asarray(_open(compose(Image.fromarray(pixels), mask, CutoutOptions(crop=True))))
    rgb, alpha = pixels[5:-5, 7:], mask[5:-5, 7:]
    expected = np.where(alpha[..., None] > 0, np.dstack([rgb, alpha]), 0)
    assert np.array_equal(out, expected)
