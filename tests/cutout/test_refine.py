from __future__ import annotations

import numpy as np

from bgremover.cutout.refine import guided_filter


def test_guided_filter_moves_a_blurry_edge_onto_the_guide_edge() -> None:
    guide = np.zeros((64, 64), np.uint8)
    guide[:, 32:] = 255
    blurry = np.clip((np.arange(64, dtype=np.float32) - 24) / 16, 0, 1)[np.newaxis].repeat(64, 0)
    refined = guided_filter(guide, blurry, radius=4, eps=1e-4)
    assert refined.dtype == np.float32 and refined.min() >= 0 and refined.max() <= 1
    # away from the edge the flat regions follow the guide: left darker, right brighter than before
    assert refined[:, 33:40].mean() > blurry[:, 33:40].mean()
    assert refined[:, 24:31].mean() < blurry[:, 24:31].mean()


def test_a_large_photo_gets_nearly_the_full_resolution_result_from_shrunk_coefficients() -> None:
    """3000 px: coefficients from a third-size copy, applied at full size, snap the same edge."""
    guide = np.zeros((2000, 3000), np.uint8)
    guide[:, 1500:] = 255
    ramp = np.clip((np.arange(3000, dtype=np.float32) - 1400) / 200, 0, 1)
    blurry = np.ascontiguousarray(ramp[np.newaxis].repeat(2000, 0))
    fast = guided_filter(guide, blurry, radius=24, eps=1e-4)
    full = guided_filter(guide, blurry, radius=24, eps=1e-4, working_side=None)
    assert fast.shape == full.shape == blurry.shape
    assert not np.array_equal(fast, full)  # the shrunk path was taken
    assert np.abs(fast - full).mean() < 0.01
    assert np.array_equal(fast > 0.5, full > 0.5)
