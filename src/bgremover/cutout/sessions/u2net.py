"""U^2-Net family (u2netp, u2net, silueta, and IS-Net, which shares the convention): the first
output is the fused saliency map, min-max normalised per image."""

from __future__ import annotations

import numpy as np

from bgremover.cutout.sessions.base import SegmentationSession


class U2NetSession(SegmentationSession):
    def postprocess(self, output: np.ndarray) -> np.ndarray:
        saliency = output[0, 0].astype(np.float32, copy=False)
        low, high = float(saliency.min()), float(saliency.max())
        return (saliency - low) / max(high - low, 1e-6)
