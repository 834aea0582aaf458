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


def _blend(rgb: np.ndarray, alpha: np.ndarray, background: tuple[int, int, int] | None) -> np.ndarray:
    if background is None:
        out = np.dstack([rgb, alpha])
        out[alpha == 0, :3] = 0  # hidden colour is noise: zeroing it shrinks the PNG
        return out
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
        return encode_image(
            Image.fromarray(_shrink(np.ascontiguousarray(alpha), options.max_size), "L"), options.format
        )
    rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)[y0:y1, x0:x1]
    pixels = _shrink(_blend(rgb, alpha, options.background), options.max_size)
    return encode_image(Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB"), options.format)
