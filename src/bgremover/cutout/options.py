"""Output options of a cut-out, shared by the CLI, the HTTP API and the pipeline.

Imports only pydantic: the API validates requests with this model and must never load ONNX."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bgremover.cutout.roi import WHOLE_FRAME, Roi, normalise_roi

OutputFormat = Literal["png", "webp", "jpg"]
Subject = Literal["all", "largest", "central"]
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
JPEG_DEFAULT_BG = "#ffffff"
# Job option holding per-image ROIs, {image id: roi}: written by the API from each image's own "roi",
# never accepted from the client as an option (the options models forbid unknown fields).
IMAGE_ROIS = "image_rois"


class CutoutOptions(BaseModel):
    """PRODUCT.md's option names. ``bg_color`` None means transparent (except for jpg, which has no
    alpha and falls back to white)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bg_color: str | None = Field(
        default=None, description="Hex colour (#rgb or #rrggbb), or null/'transparent'."
    )
    crop: bool = Field(default=False, description="Crop to the subject's bounding box.")
    margin: int = Field(
        default=0, ge=0, le=10_000, description="Pixels kept around the subject when cropping."
    )
    format: OutputFormat = "png"
    max_size: int | None = Field(
        default=None, ge=1, le=100_000, description="Longest output side, in pixels."
    )
    mask_only: bool = Field(default=False, description="Return the 8-bit mask instead of the cut-out.")
    roi: str = Field(
        default=WHOLE_FRAME,
        description="Region of interest 'x1 y1 x2 y2' in px or %: only its contents may be foreground, "
        "and the model looks at it alone.",
    )
    subject: Subject = Field(
        default="all",
        description="When the mask holds several separate objects: keep 'all', the 'largest', or the "
        "'central' one (nearest the centre of the photo, or of the roi).",
    )

    @field_validator("roi", mode="before")
    @classmethod
    def _normalise_roi(cls, value: object) -> object:
        return normalise_roi(value)

    @field_validator("bg_color", mode="before")
    @classmethod
    def _normalise_colour(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "transparent", "none")):
            return None
        if not isinstance(value, str) or not _HEX.match(value.strip()):
            raise ValueError("bg_color must be a hex colour like #ffffff or #fff, or 'transparent'")
        digits = value.strip().lstrip("#").lower()
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return f"#{digits}"

    @field_validator("format", mode="before")
    @classmethod
    def _normalise_format(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.lower()
            return "jpg" if value == "jpeg" else value
        return value

    @property
    def region(self) -> Roi:
        """The parsed :attr:`roi`."""
        return Roi.parse(self.roi)

    @property
    def background(self) -> tuple[int, int, int] | None:
        """The RGB fill, or None for a transparent background."""
        colour = self.bg_color or (JPEG_DEFAULT_BG if self.format == "jpg" else None)
        if colour is None:
            return None
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
