"""Typed views of the job JSON (PRODUCT.md), parsed leniently: a field the server adds later is kept
in ``raw``, never an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    image_ids: tuple[str, ...]
    representative_image_id: str | None


@dataclass(frozen=True, slots=True)
class Image:
    """One uploaded photo's outcome; ``error`` is its problem object when ``status`` is failed, and
    ``urls`` maps each output kind the service stored (original, thumbnail, cutout, mask) to its URL."""

    image_id: str
    filename: str | None
    status: str
    group_id: str | None
    error: dict[str, Any] | None
    width: int | None
    height: int | None
    urls: dict[str, str]


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    status: str
    stage: str | None = None
    progress: Progress | None = None
    groups: tuple[Group, ...] = ()
    images: tuple[Image, ...] = ()
    error: dict[str, Any] | None = None
    type: str | None = None
    tenant_id: str | None = None
    stages: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def image(self, image_id: str) -> Image:
        return next(image for image in self.images if image.image_id == image_id)


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _image(data: dict[str, Any]) -> Image:
    urls = {key.removesuffix("Url"): url for key, url in data.items() if key.endswith("Url") and url}
    return Image(
        image_id=data["imageId"],
        filename=data.get("filename"),
        status=data["status"],
        group_id=data.get("groupId"),
        error=data.get("error"),
        width=data.get("width"),
        height=data.get("height"),
        urls=urls,
    )


def _group(data: dict[str, Any]) -> Group:
    return Group(data["groupId"], tuple(data.get("imageIds", ())), data.get("representativeImageId"))


def parse_job(data: dict[str, Any]) -> Job:
    """A ``Job`` from ``GET /v1/jobs/{jobId}`` (or an SSE event, which carries the same body)."""
    result = data.get("result") or {}
    progress = data.get("progress")
    return Job(
        job_id=data["jobId"],
        status=data["status"],
        stage=data.get("stage"),
        progress=Progress(progress["done"], progress["total"]) if progress else None,
        groups=tuple(_group(group) for group in result.get("groups", ())),
        images=tuple(_image(image) for image in result.get("images", ())),
        error=data.get("error"),
        type=data.get("type"),
        tenant_id=data.get("tenantId"),
        stages=data.get("stages") or {},
        created_at=_timestamp(data.get("createdAt")),
        updated_at=_timestamp(data.get("updatedAt")),
        raw=data,
    )


def parse_accepted(data: dict[str, Any]) -> Job:
    """The ``202`` answer to a submit: only the id and status are known yet."""
    return Job(job_id=data["jobId"], status=data["status"], raw=data)
