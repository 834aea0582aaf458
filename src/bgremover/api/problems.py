"""RFC 9457 problem details: every error the API answers is ``application/problem+json`` with a
stable ``type``, the request id, and any extension members that help the client fix the request."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import REFUSALS
from bgremover.problems import problem

PROBLEM_JSON = "application/problem+json"
_log = get_logger(__name__)


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def refusal(
    reason: str,
    status: int,
    slug: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> ProblemError:
    """A refusal by a per-tenant limit or the slow-client guard, counted by ``reason`` in
    ``bgr_requests_refused_total`` as it is made, so no limit can refuse without being counted."""
    REFUSALS.labels(reason=reason).inc()
    return ProblemError(status, slug, detail, headers=headers, **extensions)


_PROBLEM_REASONS = {
    400: "Malformed request (multipart, JSON, tenant id)",
    401: "Missing, invalid or expired credentials",
    402: "The tenant's monthly image quota is exhausted",
    403: "A credential for one tenant sent with another tenant's X-Tenant-ID or Host",
    404: "No such job or image for this tenant",
    408: "The upload stalled or exceeded its deadline",
    409: (
        "The job is not final yet (no archive), an upload slot already used, a photo not yet sent"
        " to its slot, or an upload already submitted"
    ),
    410: "The upload slot has expired",
    413: "Too many images, an image or the request too large, or too many pixels",
    415: "Bytes that are not a supported image",
    422: "Invalid options, or an Idempotency-Key reused with another body",
    429: "Rate limit or active-job quota reached (see Retry-After and RateLimit-* headers)",
    503: "A backend (ledger, queue, blob store) is unavailable; retry after Retry-After",
}


def documented_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route may answer, so clients generated from the
    schema know every refusal is ``application/problem+json``."""
    schema = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
        },
    }
    return {
        status: {"description": _PROBLEM_REASONS[status], "content": {PROBLEM_JSON: {"schema": schema}}}
        for status in statuses
    }


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def problem_response(
    request: Request,
    status: int,
    slug: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = problem(status, slug, detail, request_id=request_id_of(request), **extensions)
    body["instance"] = request.url.path
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc.status, exc.slug, exc.detail, headers=exc.headers, **exc.extensions)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem_response(request, exc.status_code, slug, str(exc.detail), headers=exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()]
    return problem_response(request, 422, "invalid-request", "the request is not valid", errors=errors)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error", path=request.url.path)
    return problem_response(request, 500, "internal-error", "an unexpected error occurred; it was logged")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
