"""Colour of the subject, as a descriptor the embedding lacks.

An ImageNet network is trained to ignore colour shifts (a red and a blue bottle are both "bottle"),
but for grouping product photos colour is often the only difference between two products. The
descriptor is a hue x saturation x value histogram of the foreground pixels, weighted by the mask,
square-rooted (Hellinger) so that a dominant colour does not drown the rest, and L2-normalised so that
its dot products are cosine similarities like the embedding's.
"""

from __future__ import annotations

import cv2
import numpy as np

from bgremover.grouping.subject import SubjectView

HUE_BINS, SAT_BINS, VAL_BINS = 12, 4, 4
COLOUR_DIM = HUE_BINS * SAT_BINS * VAL_BINS


def colour_histogram(view: SubjectView) -> np.ndarray:
    """Hellinger-normalised HSV histogram (``COLOUR_DIM`` floats, unit length) of the view's subject."""
    hsv = cv2.cvtColor(view.pixels, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.int32)
    bins = (
        (hsv[:, 0] * HUE_BINS >> 8) * SAT_BINS * VAL_BINS
        + (hsv[:, 1] * SAT_BINS >> 8) * VAL_BINS
        + (hsv[:, 2] * VAL_BINS >> 8)
    )
    weights = view.alpha.reshape(-1).astype(np.float64)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    histogram = np.sqrt(np.bincount(bins, weights=weights, minlength=COLOUR_DIM))
    return (histogram / np.linalg.norm(histogram)).astype(np.float32)
