from __future__ import annotations

import io

import pytest
from PIL import Image

from bgremover.imaging.encode import encode_image


@pytest.mark.parametrize(
    ("fmt", "mode", "pil_format"), [("png", "RGBA", "PNG"), ("webp", "RGBA", "WEBP"), ("jpg", "RGB", "JPEG")]
)
def test_round_trip(fmt: str, mode: str, pil_format: str) -> None:
    image = Image.new(mode, (30, 20), (10, 20, 30, 128)[: len(mode)])
    decoded = Image.open(io.BytesIO(encode_image(image, fmt)))
    assert (decoded.format, decoded.size, decoded.mode) == (pil_format, (30, 20), mode)


def test_jpeg_refuses_alpha() -> None:
    with pytest.raises(ValueError, match="composite"):
        encode_image(Image.new("RGBA", (4, 4)), "jpg")
