"""From an image and its mask to the bytes the user asked for (PRODUCT.md's output options).

Work is ordered to touch as few pixels as possible: crop first, then blend, then shrink, then encode."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from bgremover.cutout.engine import subject_box
from bgremover.cutout.options import CutoutOptions
from bgremover.imaging.encode import encode_image

CROP_THRESHOLD = 0.5


def crop_box(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """The subject's box widened by ``margin`` pixels; the whole image when the mask is empty."""
    height, width = mask.shape
    box = subject_box(mask, int(CROP_THRESHOLD * 255))
    if box is None:
        return 0, 0, width, height
    x0, y0, x1, y1 = box
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)


def _alpha(image: Image.Image, mask: np.ndarray) -> np.ndarray:
    """The predicted mask, never more opaque than the input's own alpha."""
    if image.mode == "RGBA":
        return np.minimum(mask, np.asarray(image.getchannel("A")))
    return mask


def _transparent(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA with the colour under alpha 0 zeroed: hidden colour is noise, and zeros shrink the PNG.
    OpenCV does it in two passes; NumPy's ``dstack`` plus a boolean-index assignment took 30x longer
    (384 ms against 13 ms on a 6 MP photo), as long as the PNG encoding itself."""
    out = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    out[..., 3] = alpha
    return cv2.bitwise_and(out, out, mask=np.ascontiguousarray(alpha))


def _blend(rgb: np.ndarray, alpha: np.ndarray, background: tuple[int, int, int] | None) -> np.ndarray:
    if background is None:
        return _transparent(rgb, alpha)
    a = alpha[..., np.newaxis].astype(np.uint16)
    bg = np.asarray(background, np.uint16)
    return ((rgb.astype(np.uint16) * a + bg * (255 - a) + 127) // 255).astype(np.uint8)


def _shrink(pixels: np.ndarray, max_size: int | None) -> np.ndarray:
    height, width = pixels.shape[:2]
    longest = max(height, width)
    if max_size is None or longest <= max_size:
        return pixels
    scale = max_size / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def compose(image: Image.Image, mask: np.ndarray, options: CutoutOptions) -> bytes:
    """The encoded cut-out (or mask, with ``mask_only``) of ``image`` under ``mask`` (uint8 HxW)."""
    if mask.shape != (image.height, image.width):
        raise ValueError(f"mask {mask.shape} does not match image {image.height}x{image.width}")
    x0, y0, x1, y1 = crop_box(mask, options.margin) if options.crop else (0, 0, image.width, image.height)
    alpha = _alpha(image, mask)[y0:y1, x0:x1]
    if options.mask_only:
        return encode_image(_shrink(alpha, options.max_size), options.format)
    rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)[y0:y1, x0:x1]
    pixels = _shrink(_blend(rgb, alpha, options.background), options.max_size)
    return encode_image(pixels, options.format)
