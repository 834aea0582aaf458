"""RFC 9457 problem objects: the one error shape of the whole service.

The API answers them as ``application/problem+json``; workers store them as a job's or an image's
error. They live here, outside the HTTP layer, so the pipeline can build them without importing it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_TYPE_BASE = "urn:bgremover:problem:"


def problem(
    status: int, slug: str, detail: str, *, request_id: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """A problem object with a stable ``type`` built from ``slug``."""
    return {
        "type": f"{PROBLEM_TYPE_BASE}{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "requestId": request_id,
        **extensions,
    }
