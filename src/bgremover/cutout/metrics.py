"""Mask quality as the salient-object literature reports it, shared by the quality test and bench."""

from __future__ import annotations

import numpy as np


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of ``pred > 127`` against ``truth > 127``; two empty masks agree perfectly."""
    p, t = pred > 127, truth > 127
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


def mask_mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error of the soft mask against the ground truth, both scaled to 0..1."""
    return float(np.abs(pred.astype(np.float32) - truth.astype(np.float32)).mean() / 255.0)
