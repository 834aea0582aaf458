"""The client's pure parts: what importing it loads, the retry policy and ``Retry-After``, problems
from bodies that are not problems, transport failures retried, and the upload sources."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bgremover.client import ApiError, Client, RetryPolicy
from bgremover.client.files import Uploads
from bgremover.client.protocol import Reply, api_error, retry_after_seconds

HEAVY = ("onnxruntime", "cv2", "sklearn", "numpy", "fastapi", "sqlalchemy", "PIL", "pydantic", "huey")


def test_importing_the_client_loads_nothing_of_the_service():
    code = "import sys, bgremover.client; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout.split()
    assert "httpx" in loaded
    assert [module for module in HEAVY if module in loaded] == []


def test_retry_after_is_seconds_or_an_http_date():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_retry_policy_honours_retry_after_up_to_its_bound_then_gives_up():
    policy = RetryPolicy(attempts=3, backoff_s=1.0, max_retry_after_s=10)
    assert policy.delay(1, 4.0) == 4.0
    assert policy.delay(1, 11.0) is None  # longer than the caller accepts: raised instead
    assert 0 <= policy.delay(2, None) <= 2.0
    assert policy.delay(3, None) is None


def test_a_body_that_is_no_problem_still_raises_the_one_error_type():
    error = api_error(Reply(502, {"retry-after": "3"}, b"<html>Bad Gateway</html>"))
    assert isinstance(error, ApiError) and error.status == 502 and error.type == "about:blank"
    assert "Bad Gateway" in error.detail and error.retry_after == 3.0


def test_connection_errors_are_retried_then_raised():
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.headers["idempotency-key"])
        raise httpx.ConnectError("refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    retry = RetryPolicy(attempts=3, backoff_s=0.001)
    with Client("http://127.0.0.1:9", retry=retry, http=http) as client, pytest.raises(httpx.ConnectError):
        client.group_images(b"bytes")
    assert len(attempts) == 3 and len(set(attempts)) == 1  # one key for the logical submit


def test_an_unseekable_stream_is_sent_once():
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    assert not Uploads.of([Pipe()]).replayable
    assert Uploads.of([b"x", ("a.jpg", io.BytesIO(b"y"))]).replayable
    with pytest.raises(ValueError, match="at least one"):
        Uploads.of([])
