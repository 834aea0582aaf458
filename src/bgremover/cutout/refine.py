"""Edge refinement: a guided filter (He et al.) that snaps the upscaled 320x320 mask to the photo's
own edges. Box filters make it O(pixels) whatever the radius, so it costs milliseconds where
closed-form matting (pymatting) costs seconds per photo.

On a large photo even O(pixels) is dear (seven box filters over 12 MP of float32), so the linear
coefficients are computed on a photo shrunk to about :data:`WORKING_SIDE` pixels and only applied at
full resolution: He and Sun's fast guided filter. The mask being snapped came from 320x320, so the
coarse coefficients lose nothing it had; the output still follows the full-resolution photo's edges."""

from __future__ import annotations

import cv2
import numpy as np

WORKING_SIDE = 1024


def guided_filter(
    guide: np.ndarray,
    prob: np.ndarray,
    radius: int = 8,
    eps: float = 1e-3,
    working_side: int | None = WORKING_SIDE,
) -> np.ndarray:
    """Filter ``prob`` (float32 0..1) guided by ``guide`` (uint8 grey, same size); photos longer than
    ``working_side`` get their coefficients from a proportionally shrunk copy (None: never)."""
    height, width = prob.shape
    scale = max(1, round(max(height, width) / working_side)) if working_side else 1
    i = guide.astype(np.float32) / 255.0
    if scale == 1:
        a, b = _coefficients(i, prob, radius, eps)
    else:
        size = (max(1, width // scale), max(1, height // scale))
        shrink = cv2.INTER_AREA
        a, b = _coefficients(
            cv2.resize(i, size, interpolation=shrink),
            cv2.resize(prob, size, interpolation=shrink),
            max(1, radius // scale),
            eps,
        )
        a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(a * i + b, 0.0, 1.0)


def _coefficients(i: np.ndarray, prob: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The box-averaged linear coefficients (a, b) of ``prob ~ a * i + b`` in each window."""
    size = (2 * radius + 1, 2 * radius + 1)
    mean_i, mean_p = cv2.boxFilter(i, -1, size), cv2.boxFilter(prob, -1, size)
    cov_ip = cv2.boxFilter(i * prob, -1, size) - mean_i * mean_p
    var_i = cv2.boxFilter(i * i, -1, size) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return cv2.boxFilter(a, -1, size), cv2.boxFilter(b, -1, size)
