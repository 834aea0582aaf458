"""The subject view and the colour descriptor: what the embedding sees and what tells colourways apart."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bgremover.grouping.colour import COLOUR_DIM, colour_histogram
from bgremover.grouping.subject import NEUTRAL_GREY, VIEW_SIZE, subject_view


def _scene(
    object_rgb: tuple[int, int, int], background_rgb: tuple[int, int, int]
) -> tuple[Image.Image, np.ndarray]:
    """A 300x200 photo with a 60x100 object at (200, 50) and its mask."""
    pixels = np.empty((200, 300, 3), np.uint8)
    pixels[:] = background_rgb
    mask = np.zeros((200, 300), np.uint8)
    mask[50:150, 200:260] = 255
    pixels[mask > 0] = object_rgb
    return Image.fromarray(pixels), mask


def test_view_is_the_subject_centred_on_neutral_grey() -> None:
    image, mask = _scene((200, 30, 30), (20, 200, 20))
    view = subject_view(image, mask)
    assert view.pixels.shape == (VIEW_SIZE, VIEW_SIZE, 3)
    assert view.alpha.shape == (VIEW_SIZE, VIEW_SIZE)
    centre = view.pixels[VIEW_SIZE // 2, VIEW_SIZE // 2]
    assert tuple(centre) == (200, 30, 30)
    assert tuple(view.pixels[VIEW_SIZE // 2, 2]) == (NEUTRAL_GREY,) * 3  # padding, not the green background
    assert not np.any(np.all(view.pixels == (20, 200, 20), axis=2))
    assert view.alpha[VIEW_SIZE // 2, VIEW_SIZE // 2] == 1.0
    assert view.alpha[VIEW_SIZE // 2, 2] == 0.0


def test_view_without_usable_mask_is_the_whole_photo() -> None:
    image, _ = _scene((200, 30, 30), (20, 200, 20))
    for mask in (None, np.zeros((200, 300), np.uint8)):
        view = subject_view(image, mask)
        assert np.all(view.alpha[VIEW_SIZE // 4 : 3 * VIEW_SIZE // 4] == 1.0)
        assert tuple(view.pixels[VIEW_SIZE // 2, 10]) == (20, 200, 20)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_colour_ignores_the_background_and_separates_colourways() -> None:
    red_on_green = colour_histogram(subject_view(*_scene((200, 30, 30), (20, 200, 20))))
    red_on_yellow = colour_histogram(subject_view(*_scene((200, 30, 30), (230, 220, 40))))
    darker_red = colour_histogram(subject_view(*_scene((180, 25, 25), (230, 220, 40))))
    blue_on_green = colour_histogram(subject_view(*_scene((30, 30, 200), (20, 200, 20))))
    assert red_on_green.shape == (COLOUR_DIM,)
    assert np.linalg.norm(red_on_green) == pytest.approx(1.0, abs=1e-6)
    assert _cosine(red_on_green, red_on_yellow) > 0.99
    assert _cosine(red_on_green, darker_red) > 0.5
    assert _cosine(red_on_green, blue_on_green) < 0.05
