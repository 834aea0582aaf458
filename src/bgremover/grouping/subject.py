"""The subject of a product photo, isolated for embedding.

Two photos of one product are rarely shot on the same background, and photos of different products
often are (one studio, one shelf). So before the network sees a photo, the cut-out mask crops it to
the subject's bounding box and replaces the background with a flat neutral grey: 127, which the
embedding network's own normalisation ``(x - 127) / 128`` maps to zero, the least informative input.
The crop is padded to a square so the product's aspect ratio survives the resize.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

NEUTRAL_GREY = 127
VIEW_SIZE = 224
MASK_THRESHOLD = 127
# Fraction of the subject's box kept around it: a little context, but not the neighbouring product.
BOX_MARGIN = 0.04
# Below this share of foreground pixels the mask is noise (a failed cut-out): use the whole photo.
MIN_SUBJECT_FRACTION = 0.002


@dataclass(frozen=True)
class SubjectView:
    """A square, fixed-size view of one photo and the foreground weight of each of its pixels."""

    pixels: np.ndarray  # uint8 (size, size, 3), RGB
    alpha: np.ndarray  # float32 (size, size), 1 = subject, 0 = background or padding


def _subject_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the foreground, with margin; None when there is none."""
    foreground = mask > MASK_THRESHOLD
    if foreground.mean() < MIN_SUBJECT_FRACTION:
        return None
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    height, width = mask.shape
    pad = round(BOX_MARGIN * max(rows[-1] - rows[0], cols[-1] - cols[0]))
    return (
        max(0, cols[0] - pad),
        max(0, rows[0] - pad),
        min(width, cols[-1] + 1 + pad),
        min(height, rows[-1] + 1 + pad),
    )


def _square(pixels: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = alpha.shape
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square_pixels = np.full((side, side, 3), NEUTRAL_GREY, np.uint8)
    square_alpha = np.zeros((side, side), np.float32)
    square_pixels[top : top + height, left : left + width] = pixels
    square_alpha[top : top + height, left : left + width] = alpha
    return square_pixels, square_alpha


def subject_view(image: Image.Image, mask: np.ndarray | None = None, size: int = VIEW_SIZE) -> SubjectView:
    """The photo cropped to its subject on neutral grey (``mask`` None: the whole photo, all foreground)."""
    rgb = np.asarray(image.convert("RGB"))
    box = _subject_box(mask) if mask is not None else None
    if box is None:
        pixels, alpha = rgb, np.ones(rgb.shape[:2], np.float32)
    else:
        x0, y0, x1, y1 = box
        alpha = mask[y0:y1, x0:x1].astype(np.float32) / 255.0
        crop = rgb[y0:y1, x0:x1].astype(np.float32)
        pixels = np.rint(crop * alpha[..., None] + NEUTRAL_GREY * (1.0 - alpha[..., None])).astype(np.uint8)
    pixels, alpha = _square(pixels, alpha)
    return SubjectView(
        pixels=cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA),
        alpha=cv2.resize(alpha, (size, size), interpolation=cv2.INTER_AREA),
    )
