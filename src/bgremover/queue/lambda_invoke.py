"""The dispatcher that invokes the worker Lambda function (``BGR_QUEUE_URL=lambda://FUNCTION``).

``enqueue`` is an asynchronous ``Invoke`` (``InvocationType=Event``) whose payload is the job message
``{"jobId": "..."}`` (:mod:`bgremover.queue.message`): Lambda keeps the event in its own queue, runs
the function, retries it and sends what still fails to the function's on-failure destination. The
call is bounded like every enqueue (:class:`BoundedCalls`): an invoke endpoint that hangs costs the
submit ``BGR_ENQUEUE_TIMEOUT_S``, then 503. Only the sending side lives here: the function itself
consumes, so ``bg-remover worker`` has nothing to read on this URL.

The endpoint, region and credentials are boto3's own configuration (``AWS_ENDPOINT_URL_LAMBDA`` or
``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``).
"""

from __future__ import annotations

import re
from typing import Any

import boto3
from botocore.config import Config

from bgremover.queue.bounded import BoundedCalls
from bgremover.queue.message import job_message

# A function name, ARN or partial ARN, optionally with a version or alias (Invoke's FunctionName).
_FUNCTION = re.compile(
    r"^(arn:[A-Za-z0-9-]+:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,140}(:[\w$-]+)?$"
)
_ACCEPTED = 202  # an Event invocation queued by Lambda


def function_of(url: str) -> str:
    name = url.removeprefix("lambda://")
    if not url.startswith("lambda://") or not _FUNCTION.match(name):
        raise ValueError(f"unsupported Lambda queue URL (expected lambda://FUNCTION): {url!r}")
    return name


class LambdaInvokeDispatcher:
    """``Dispatcher`` by asynchronous Lambda invocation."""

    def __init__(self, function: str, client: Any = None, *, threads: int = 4) -> None:
        self.function = function
        # Timeouts and no client retries: the enqueue bound, not botocore, decides when to give up,
        # and a thread stuck on a hung endpoint is freed after read_timeout.
        config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1, "mode": "standard"})
        self._client = client or boto3.client("lambda", config=config)
        self._calls = BoundedCalls(threads)

    @classmethod
    def from_url(cls, url: str) -> LambdaInvokeDispatcher:
        return cls(function_of(url))

    def enqueue(self, job_id: str, *, timeout: float) -> None:
        self._calls.run(lambda: self._invoke(job_id), timeout=timeout)

    def _invoke(self, job_id: str) -> None:
        answer = self._client.invoke(
            FunctionName=self.function, InvocationType="Event", Payload=job_message(job_id).encode()
        )
        if answer["StatusCode"] != _ACCEPTED:
            raise RuntimeError(f"Lambda answered {answer['StatusCode']} to an Event invocation")

    def depth(self) -> int:
        """0: the events Lambda holds for the function are not visible to its callers (CloudWatch's
        ``AsyncEventAge`` is the place to watch them)."""
        return 0

    def ping(self) -> None:
        """A ``DryRun`` invocation: the function exists and this caller may invoke it."""
        self._client.invoke(FunctionName=self.function, InvocationType="DryRun")

    def close(self) -> None:
        self._calls.close()
