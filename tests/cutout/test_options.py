from __future__ import annotations

import sys

import pytest
from pydantic import ValidationError

from bgremover.cutout.options import CutoutOptions


@pytest.mark.parametrize(
    ("given", "normalised", "rgb"),
    [
        ("#FFF", "#ffffff", (255, 255, 255)),
        ("00ff80", "#00ff80", (0, 255, 128)),
        ("transparent", None, None),
        (None, None, None),
    ],
)
def test_bg_color_is_normalised(given: str | None, normalised: str | None, rgb: tuple | None) -> None:
    options = CutoutOptions(bg_color=given)
    assert options.bg_color == normalised
    assert options.background == rgb


def test_jpeg_implies_white_unless_a_colour_is_given() -> None:
    assert CutoutOptions(format="jpeg").format == "jpg"
    assert CutoutOptions(format="jpg").background == (255, 255, 255)
    assert CutoutOptions(format="jpg", bg_color="#000").background == (0, 0, 0)


@pytest.mark.parametrize(
    "fields",
    [
        {"bg_color": "red"},
        {"bg_color": "#12345"},
        {"margin": -1},
        {"format": "gif"},
        {"max_size": 0},
        {"colour": "#fff"},
    ],
)
def test_invalid_options_are_rejected(fields: dict) -> None:
    with pytest.raises(ValidationError):
        CutoutOptions(**fields)


def test_options_are_frozen() -> None:
    with pytest.raises(ValidationError):
        CutoutOptions().crop = True  # type: ignore[misc]


def test_importing_options_does_not_load_onnxruntime() -> None:
    import subprocess

    code = "import sys, bgremover.cutout.options, bgremover.cutout; print('onnxruntime' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
