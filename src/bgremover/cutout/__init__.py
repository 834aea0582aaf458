"""Background removal: mask prediction, refinement and composition of outputs.

Re-exports are lazy so that ``import bgremover.cutout.options`` (the HTTP API does) never loads
onnxruntime, OpenCV or NumPy."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bgremover.cutout.composition import compose
    from bgremover.cutout.engine import CutoutEngine
    from bgremover.cutout.options import CutoutOptions

_EXPORTS = {
    "CutoutEngine": "bgremover.cutout.engine",
    "CutoutOptions": "bgremover.cutout.options",
    "compose": "bgremover.cutout.composition",
}
__all__ = ["CutoutEngine", "CutoutOptions", "compose"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
