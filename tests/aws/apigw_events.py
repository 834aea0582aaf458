"""API Gateway HTTP API (payload format 2.0) events built the way API Gateway builds them, for the
Lambda handler tests and ``bench/aws_submit_latency.py``: header names in lower case, the raw query
string beside its parsed form (repeated keys joined by commas), and any body that is not text base64
encoded with ``isBase64Encoded`` set (a multipart upload of photos always is)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx

API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.eu-west-1.amazonaws.com"
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


def http_api_event(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"", query: str = ""
) -> dict[str, Any]:
    now = time.time()
    lowered = {"host": HOST, "user-agent": "curl/8.5.0", "x-forwarded-proto": "https"}
    lowered |= {name.lower(): value for name, value in (headers or {}).items()}
    if body:
        lowered["content-length"] = str(len(body))
    is_text = lowered.get("content-type", "").startswith(_TEXT_TYPES)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": HOST,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": lowered["user-agent"],
            },
            "requestId": uuid.uuid4().hex[:16] + "=",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body) and not is_text,
    }
    if query:
        joined: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            joined[key] = f"{joined[key]},{value}" if key in joined else value
        event["queryStringParameters"] = joined
    if body:
        event["body"] = body.decode() if is_text else base64.b64encode(body).decode("ascii")
    return event


def multipart_event(
    path: str, files: list[tuple[str, bytes]], *, headers: dict[str, str] | None = None, **fields: str
) -> dict[str, Any]:
    """A multipart/form-data POST of ``images`` parts (encoded by httpx, as a client would)."""
    parts = [("images", (name, data, "application/octet-stream")) for name, data in files]
    request = httpx.Request("POST", f"https://{HOST}{path}", files=parts, data=fields)
    content_type = request.headers["content-type"]
    return http_api_event(
        "POST", path, headers={**(headers or {}), "content-type": content_type}, body=request.read()
    )


def json_event(
    method: str, path: str, document: Any, *, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    body = json.dumps(document).encode()
    return http_api_event(
        method, path, headers={**(headers or {}), "content-type": "application/json"}, body=body
    )


def lambda_context(function_name: str = "bg-remover-api", timeout_ms: int = 30_000) -> SimpleNamespace:
    """What the Lambda runtime passes as ``context`` (the fields handlers read)."""
    deadline = time.monotonic() + timeout_ms / 1000
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}",
        memory_limit_in_mb="1024",
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name="2026/12/06/[$LATEST]0123456789abcdef",
        get_remaining_time_in_millis=lambda: int((deadline - time.monotonic()) * 1000),
    )


def response_body(response: dict[str, Any]) -> bytes:
    """The body of a handler's response as the client receives it."""
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
