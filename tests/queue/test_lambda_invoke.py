"""``lambda://FUNCTION`` beyond the dispatcher contract, against the Invoke API double: what an Event
invocation carries, the readiness probe, and a function that does not exist."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from bgremover.queue import EnqueueError
from bgremover.queue.factory import dispatcher_from_url
from bgremover.queue.lambda_invoke import LambdaInvokeDispatcher, function_of
from lambda_invoke_api import LambdaInvokeApi


def test_an_event_invocation_carries_the_job_message(lambda_api: LambdaInvokeApi) -> None:
    dispatcher = dispatcher_from_url("lambda://bgr-worker")
    assert isinstance(dispatcher, LambdaInvokeDispatcher)
    dispatcher.ping()  # a DryRun: not an invocation
    dispatcher.enqueue("job-1", timeout=5)
    assert [(name, json.loads(payload)) for name, payload in lambda_api.events] == [
        ("bgr-worker", {"jobId": "job-1"})
    ]
    dispatcher.close()


def test_a_missing_function_is_an_enqueue_error_and_not_ready(lambda_api: LambdaInvokeApi) -> None:
    dispatcher = dispatcher_from_url("lambda://no-such-function")
    with pytest.raises(EnqueueError, match="ResourceNotFoundException"):
        dispatcher.enqueue("job-1", timeout=5)
    with pytest.raises(ClientError):
        dispatcher.ping()
    assert lambda_api.events == []
    dispatcher.close()


def test_function_urls_are_checked() -> None:
    assert function_of("lambda://bgr-worker") == "bgr-worker"
    assert function_of("lambda://bgr-worker:live") == "bgr-worker:live"
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:bgr-worker"
    assert function_of(f"lambda://{arn}") == arn
    for url in ["lambda://", "lambda://a/b", "lambda:/x", "lambda://a b"]:
        with pytest.raises(ValueError, match="expected lambda://FUNCTION"):
            function_of(url)
