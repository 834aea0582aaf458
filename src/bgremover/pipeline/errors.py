"""Problem objects (RFC 9457 members, the API's format) for what goes wrong in a worker: every one
names the job's request id and the stage, so an error in a job can be traced to the request."""

from __future__ import annotations

from typing import Any

from bgremover.cutout.roi import RoiError
from bgremover.imaging.decode import ImageDecodeError
from bgremover.problems import problem


class JobTimeLimitError(Exception):
    """The job ran past its time limit; it is failed, with what was done so far recorded."""


def image_problem(exc: Exception, *, stage: str, request_id: str | None, image_id: str) -> dict[str, Any]:
    if isinstance(exc, ImageDecodeError):
        return problem(
            422, f"image-{exc.code}", str(exc), request_id=request_id, stage=stage, imageId=image_id
        )
    if isinstance(exc, RoiError):  # a pixel ROI beyond this photo's edge: the request's fault
        slug = "roi-outside-image"
        return problem(422, slug, str(exc), request_id=request_id, stage=stage, imageId=image_id)
    return problem(
        500,
        "image-processing-failed",
        f"{type(exc).__name__}: {exc}",
        request_id=request_id,
        stage=stage,
        imageId=image_id,
    )


def job_problem(
    status: int, slug: str, detail: str, *, stage: str | None, request_id: str | None
) -> dict[str, Any]:
    return problem(status, slug, detail, request_id=request_id, stage=stage)
