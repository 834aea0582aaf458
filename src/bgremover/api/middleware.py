"""Per-request context as plain ASGI middleware: a request id (the client's ``X-Request-ID`` when it
is sane, else a new one) bound into the log context, echoed in the response, and the request's
latency recorded by route template so that metrics never explode into one series per job id. Handlers
and dependencies add headers to whatever response follows (success or problem) with
``add_response_headers`` (the rate-limit fields)."""

from __future__ import annotations

import re
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgremover.observability.logging import bind_log_context, clear_log_context, get_logger
from bgremover.observability.metrics import HTTP_REQUEST_DURATION

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EXTRA_HEADERS = "response_headers"
_log = get_logger("bgremover.api.access")


def add_response_headers(request: Request, headers: dict[str, str]) -> None:
    """Headers for this request's response, whichever response it turns out to be: a handler's own
    ``Response`` or a problem raised later."""
    request.scope.setdefault("state", {}).setdefault(_EXTRA_HEADERS, {}).update(headers)


def _extra_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    extra: dict[str, str] = scope.get("state", {}).get(_EXTRA_HEADERS, {})
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        clear_log_context()
        bind_log_context(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                present = {name.lower() for name, _ in message["headers"]}
                extra = [header for header in _extra_headers(scope) if header[0] not in present]
                message["headers"] = [*message["headers"], *extra, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_REQUEST_DURATION.labels(scope["method"], template, str(status)).observe(elapsed)
            _log.info(
                "request", method=scope["method"], route=template, status=status, ms=round(elapsed * 1e3, 2)
            )
            clear_log_context()
