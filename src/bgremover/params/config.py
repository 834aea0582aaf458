"""What a tenant may configure. Unknown keys are rejected so that a typo in the store is reported
(the worker logs it and keeps the last good value) instead of being silently ignored. Request options
win over these: they apply where a request leaves a choice open."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TenantConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    grouping_threshold: float | None = Field(
        default=None, gt=0, lt=2, description="Cosine distance splitting groups; None: the engine's default."
    )
    thumbnail_size: int = Field(default=256, ge=16, le=2048, description="Longest side of thumbnails.")
    cutout_model: str | None = Field(default=None, description="A fetched cut-out model; None: the default.")
    job_time_limit_s: float | None = Field(
        default=None, gt=0, description="Per-job limit for this tenant; None: the deployment's."
    )
