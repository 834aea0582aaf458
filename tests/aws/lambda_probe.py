"""Handlers that exercise the Lambda service double itself (``tests/lambda_service.py``): what an
execution environment sees, a slow one and one that crashes."""

from __future__ import annotations

import os
import time
from typing import Any

INIT_PID = os.getpid()
_calls = 0


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _calls
    _calls += 1
    return {
        "event": event,
        "pid": INIT_PID,
        "calls": _calls,
        "requestId": context.aws_request_id,
        "remainingMs": context.get_remaining_time_in_millis(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_LAMBDA_", "_X_AMZN", "_HANDLER"))},
    }


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event["sleep"]))
    return {"slept": event["sleep"]}


def crash(event: dict[str, Any], context: Any) -> None:
    os._exit(3)


def fail(event: dict[str, Any], context: Any) -> None:
    raise RuntimeError(f"no luck with {event}")
