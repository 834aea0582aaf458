"""Colour of the subject, as a descriptor the embedding lacks.

An ImageNet network is trained to ignore colour shifts (a red and a blue bottle are both "bottle"),
but for grouping product photos colour is often the only difference between two products. The
descriptor is a hue x saturation x value histogram of the foreground pixels, weighted by the mask
and softly binned,
square-rooted (Hellinger) so that a dominant colour does not drown the rest, and L2-normalised so that
its dot products are cosine similarities like the embedding's.

Bins: 24 hues (15 degrees each) x 4 saturations x 3 values. Measured with ``bench/grouping_quality.py``
against the earlier 12 x 4 x 4, with geometric verification on: grocery_val ARI 0.547 -> 0.575 (apple
and pepper varieties differ by a shade), the sod300 near-duplicate set 0.852 -> 0.845, distinct
white-background products wrongly grouped 39.5% -> 31.0%. 18, 24 and 36 hues with 3-4 saturation and
value bins all scored within 0.01 ARI of each other on grocery_val; fewer hues merged more.
"""

from __future__ import annotations

import cv2
import numpy as np

from bgremover.grouping.subject import SubjectView

HUE_BINS, SAT_BINS, VAL_BINS = 24, 4, 3
COLOUR_BINS = (HUE_BINS, SAT_BINS, VAL_BINS)
COLOUR_DIM = HUE_BINS * SAT_BINS * VAL_BINS


def _soft_bins(values: np.ndarray, bins: int, circular: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each 0..255 value split linearly between its two nearest bin centres, so that a small change of
    light moves weight gradually instead of flipping a whole bin (hue wraps around, the others clamp)."""
    position = values * (bins / 256.0) - 0.5
    low = np.floor(position)
    frac = position - low
    low, high = low.astype(np.int64), low.astype(np.int64) + 1
    if circular:
        low, high = low % bins, high % bins
    else:
        low, high = np.clip(low, 0, bins - 1), np.clip(high, 0, bins - 1)
    return [low, high], [1.0 - frac, frac]


def colour_histogram(view: SubjectView, bins: tuple[int, int, int] = COLOUR_BINS) -> np.ndarray:
    """Hellinger-normalised HSV histogram (hue x saturation x value ``bins``, ``COLOUR_DIM`` floats by
    default, unit length) of the view's subject."""
    # Every other pixel: a colour distribution needs no more, and this is the descriptor's hot loop.
    hsv = cv2.cvtColor(view.pixels[::2, ::2], cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float64)
    weights = view.alpha[::2, ::2].reshape(-1).astype(np.float64)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    hue_bins, sat_bins, val_bins = bins
    hue_idx, hue_w = _soft_bins(hsv[:, 0], hue_bins, circular=True)
    sat_idx, sat_w = _soft_bins(hsv[:, 1], sat_bins, circular=False)
    val_idx, val_w = _soft_bins(hsv[:, 2], val_bins, circular=False)
    size = hue_bins * sat_bins * val_bins
    histogram = np.zeros(size)
    for h, hw in zip(hue_idx, hue_w, strict=True):
        for s, sw in zip(sat_idx, sat_w, strict=True):
            for v, vw in zip(val_idx, val_w, strict=True):
                cell = (h * sat_bins + s) * val_bins + v
                histogram += np.bincount(cell, weights=weights * hw * sw * vw, minlength=size)
    histogram = np.sqrt(histogram)
    return (histogram / np.linalg.norm(histogram)).astype(np.float32)
