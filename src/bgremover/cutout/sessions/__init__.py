"""One session class per model family behind a common base, as rembg does: the family decides how
the network's output becomes a 0..1 foreground probability."""

from __future__ import annotations

from pathlib import Path

from bgremover.cutout.sessions.base import SegmentationSession
from bgremover.cutout.sessions.u2net import U2NetSession
from bgremover.models.registry import ModelSpec

SESSION_CLASSES: dict[str, type[SegmentationSession]] = {"u2net": U2NetSession}


def open_session(spec: ModelSpec, model_path: Path, threads: int | None = None) -> SegmentationSession:
    """The session class for ``spec.family`` over the process's shared ONNX session with ``threads``
    intra-op threads (default: :func:`~bgremover.models.sessions.default_threads`)."""
    try:
        cls = SESSION_CLASSES[spec.family]
    except KeyError:
        raise ValueError(f"model {spec.name!r}: no session class for family {spec.family!r}") from None
    return cls(spec, model_path, threads)


__all__ = ["SESSION_CLASSES", "SegmentationSession", "U2NetSession", "open_session"]
