"""Which of several separate objects in a mask is the product.

A salient-object network segments every salient thing in view: the cup beside the spoon, the glasses
beside the phone. When the thresholded mask falls into separate connected components, a product photo
usually means one of them. ``largest`` keeps the biggest, ``central`` the one nearest the centre of
the frame it was predicted in (the photo, or the ROI the user drew around the product), ``all`` keeps
the mask as predicted."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FOREGROUND = 0.5
_HALO = 0.02  # soft edge kept around the chosen object: this fraction of the frame's diagonal


def _disc(reach: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))


def halo(shape: tuple[int, ...]) -> int:
    """2% of the frame's diagonal, in pixels: how near two pieces must be to count as one object, and
    the soft edge kept around a chosen object."""
    return max(1, round(_HALO * float(np.hypot(shape[0], shape[1]))))


@dataclass(frozen=True, slots=True)
class Components:
    """The objects of ``prob > FOREGROUND``: connected pieces, with pieces nearer each other than
    :func:`halo` counted as one object (a thresholded mask often breaks one object apart: a leg, a
    handle). ``labels`` marks each foreground pixel with its object, from 1; 0 is the background."""

    labels: np.ndarray
    areas: np.ndarray  # pixels per label, label 0 first
    centroids: np.ndarray  # (x, y) per label

    @classmethod
    def of(cls, prob: np.ndarray) -> Components:
        mask = prob > FOREGROUND
        grown = cv2.dilate(mask.astype(np.uint8), _disc(halo(prob.shape)))
        count, labels = cv2.connectedComponents(grown, connectivity=8)
        labels[~mask] = 0
        flat = labels.ravel()
        areas = np.bincount(flat, minlength=count)
        ys, xs = np.divmod(np.flatnonzero(flat), labels.shape[1])
        where = flat[flat > 0]
        weight = np.maximum(areas, 1)
        centroids = np.stack(
            [
                np.bincount(where, weights=xs, minlength=count) / weight,
                np.bincount(where, weights=ys, minlength=count) / weight,
            ],
            axis=1,
        )
        return cls(labels, areas, centroids)

    @property
    def count(self) -> int:
        return len(self.areas) - 1

    def largest(self) -> int:
        return int(np.argmax(self.areas[1:])) + 1

    def central(self) -> int:
        """The object whose centroid is nearest the frame's centre, relative to the frame's size."""
        height, width = self.labels.shape
        offsets = (self.centroids[1:] - ((width - 1) / 2, (height - 1) / 2)) / (width, height)
        return int(np.argmin(np.hypot(offsets[:, 0], offsets[:, 1]))) + 1


def select_subject(prob: np.ndarray, subject: str) -> np.ndarray:
    """``prob`` with every object but the chosen one cleared (``subject`` 'all' returns it as is).
    The chosen object keeps its soft edge, a halo of 2% of the diagonal; the rest is zeroed."""
    if subject == "all":
        return prob
    parts = Components.of(prob)
    if parts.count <= 1:
        return prob
    chosen = parts.largest() if subject == "largest" else parts.central()
    keep = (parts.labels == chosen).astype(np.uint8)
    near = cv2.dilate(keep, _disc(halo(prob.shape))).astype(bool)
    near &= (parts.labels == 0) | (parts.labels == chosen)
    return np.where(near, prob, np.float32(0))
