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
