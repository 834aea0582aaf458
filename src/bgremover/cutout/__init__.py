"""Background removal: mask prediction, refinement and composition of outputs.

Re-exports are lazy so that ``import bgremover.cutout.options`` (the HTTP API does) never loads
onnxruntime, OpenCV or NumPy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bgremover.lazy_exports import lazy_exports

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
__getattr__ = lazy_exports(__name__, _EXPORTS)
