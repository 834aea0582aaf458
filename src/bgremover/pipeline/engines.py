"""The models a worker process uses, loaded once per process and shared by every job it runs."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from bgremover.cutout import CutoutEngine
from bgremover.grouping.embedder import Embedder
from bgremover.grouping.engine import GroupingEngine


class Engines:
    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir

    def cutout(self, model_name: str | None = None) -> CutoutEngine:
        """Cached per model by the cut-out package itself."""
        return CutoutEngine.from_settings(model_name=model_name, model_dir=self.model_dir)

    @cached_property
    def grouping(self) -> GroupingEngine:
        """Masks come from the pipeline's cut-out stage, so the grouping engine predicts none itself."""
        return GroupingEngine(Embedder.from_model_dir(self.model_dir), masker=None)

    def warm(self) -> None:
        """Load the default models now, at worker start, rather than inside the first job."""
        self.cutout()
        _ = self.grouping
