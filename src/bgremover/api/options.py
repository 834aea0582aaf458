"""Job options as the API accepts them: validated before any job exists (422 otherwise), stored on
the job as plain JSON for the worker. Cut-out options are the cut-out engine's own pure-Pydantic
model, so the API and the pipeline can never disagree on their names or ranges."""

from __future__ import annotations

from pydantic import Field

from bgremover.cutout.options import CutoutOptions


class RemoveBackgroundOptions(CutoutOptions):
    """``POST /v1/remove-background``: the cut-out options only."""


class GroupImagesOptions(CutoutOptions):
    """``POST /v1/group-images``: grouping, plus cut-outs of every image when ``remove_background``."""

    threshold: float | None = Field(
        default=None, gt=0, le=2, description="Cosine-distance threshold; the service default if unset."
    )
    remove_background: bool = False
