"""Batched EfficientNet-Lite0 features through the process's one ONNX Runtime session."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from bgremover.models.efficientnet import FEATURE_DIM
from bgremover.models.fetch import model_path
from bgremover.models.sessions import get_session

EMBEDDING_MODEL = "efficientnet-lite0"
# Larger batches add memory (about 6 MB of activations per image) but barely any speed on a CPU.
DEFAULT_BATCH = 16


def l2_normalise(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, so that a dot product is a cosine similarity."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class Embedder:
    """Pixels (uint8 RGB, all the same size) to unit-length 1280-d features."""

    def __init__(self, session: ort.InferenceSession, batch_size: int = DEFAULT_BATCH) -> None:
        self.session = session
        self.batch_size = batch_size

    @classmethod
    def from_model_dir(cls, model_dir: str | os.PathLike[str] | None = None) -> Embedder:
        """The fetched model in ``model_dir`` (default: the settings'); fails if it was never fetched."""
        return cls(get_session(model_path(EMBEDDING_MODEL, model_dir)))

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 1280) float32, unit rows, in the order given."""
        if not images:
            return np.zeros((0, FEATURE_DIM), np.float32)
        chunks = []
        for start in range(0, len(images), self.batch_size):
            batch = np.stack(images[start : start + self.batch_size]).astype(np.float32).transpose(0, 3, 1, 2)
            chunks.append(self.session.run(["features"], {"image": batch})[0])
        return l2_normalise(np.concatenate(chunks))
