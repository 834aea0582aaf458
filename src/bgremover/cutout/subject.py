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


@dataclass(frozen=True, slots=True)
class Components:
    """Connected components (8-connected) of ``prob > FOREGROUND``; label 0 is the background."""

    labels: np.ndarray
    areas: np.ndarray  # pixels per label, label 0 first
    centroids: np.ndarray  # (x, y) per label

    @classmethod
    def of(cls, prob: np.ndarray) -> Components:
        mask = (prob > FOREGROUND).astype(np.uint8)
        _, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return cls(labels, stats[:, cv2.CC_STAT_AREA], centroids)

    @property
    def count(self) -> int:
        return len(self.areas) - 1

    def dominance(self) -> float:
        """The largest object's share of the foreground: 1.0 for one object (or none)."""
        if self.count <= 1:
            return 1.0
        objects = self.areas[1:]
        return float(objects.max() / objects.sum())

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
    reach = max(1, round(_HALO * float(np.hypot(*prob.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near = cv2.dilate(keep, kernel).astype(bool) & ((parts.labels == 0) | (parts.labels == chosen))
    return np.where(near, prob, np.float32(0))
