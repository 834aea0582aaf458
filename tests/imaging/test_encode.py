from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgremover.imaging.encode import encode_image


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _pixels(shape: tuple[int, int], channels: int, values: np.ndarray) -> np.ndarray:
    """HxW for one channel (greyscale is 2-D), else HxWxC."""
    pixels = np.broadcast_to(values, (*shape, channels)).astype(np.uint8)
    return pixels[..., 0] if channels == 1 else pixels


@pytest.mark.parametrize(
    ("fmt", "channels", "mode", "pil_format"),
    [
        ("png", 4, "RGBA", "PNG"),
        ("webp", 4, "RGBA", "WEBP"),
        ("jpg", 3, "RGB", "JPEG"),
        ("jpg", 1, "L", "JPEG"),
    ],
)
def test_round_trip(fmt: str, channels: int, mode: str, pil_format: str) -> None:
    pixels = _pixels((20, 30), channels, np.array((10, 20, 30, 128)[:channels]))
    decoded = _decode(encode_image(pixels, fmt))
    assert (decoded.format, decoded.size, decoded.mode) == (pil_format, (30, 20), mode)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (5, 3), (37, 61)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_is_lossless(shape: tuple[int, int], channels: int) -> None:
    """Every pixel comes back, in RGB(A) order, with its alpha, at any size (odd ones included)."""
    rng = np.random.default_rng(channels * 1000 + shape[0] * shape[1])
    pixels = _pixels(shape, channels, rng.integers(0, 256, (*shape, channels)))
    decoded = _decode(encode_image(pixels, "png"))
    assert decoded.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    assert np.array_equal(np.asarray(decoded), pixels)


def test_png_keeps_channel_order_and_alpha() -> None:
    pixels = np.array([[[255, 0, 0, 255], [0, 0, 255, 40]]], np.uint8)  # opaque red, faint blue
    decoded = np.asarray(_decode(encode_image(pixels, "png")))
    assert decoded[0, 0].tolist() == [255, 0, 0, 255]
    assert decoded[0, 1].tolist() == [0, 0, 255, 40]


def test_png_of_a_strided_view() -> None:
    """Crops and channel-reversed views are encoded as the pixels they show."""
    rng = np.random.default_rng(7)
    whole = rng.integers(0, 256, (40, 50, 3), np.uint8)
    for view in (whole[5:33:2, 7:40], whole[..., ::-1], whole[..., 1]):
        assert np.array_equal(np.asarray(_decode(encode_image(view, "png"))), view)


def test_jpeg_refuses_alpha() -> None:
    with pytest.raises(ValueError, match="composite"):
        encode_image(np.zeros((4, 4, 4), np.uint8), "jpg")


@pytest.mark.parametrize("pixels", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4), np.float32)])
def test_refuses_arrays_that_are_no_image(pixels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        encode_image(pixels, "png")
