"""The Lambda service double (``tests/lambda_service.py``) behaves as Lambda does where the handler
tests rely on it: handlers run under ``awslambdaric`` with the standard environment, warm reuse, a
timeout that kills, asynchronous retries and the on-failure destination record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lambda_service import REGION, FunctionConfig, LambdaService, function_environment, lambda_service

PROBES = Path(__file__).resolve().parent


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaService]:
    env = function_environment(PYTHONPATH=str(PROBES))
    with lambda_service(env, tmp_path) as running:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", running.endpoint_url)
        yield running


def invoke(name: str, event: object) -> tuple[dict[str, object], object]:
    answer = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=name, Payload=json.dumps(event).encode()
    )
    return answer, json.loads(answer["Payload"].read())


def test_a_handler_runs_under_awslambdaric_with_the_lambda_environment_and_stays_warm(
    service: LambdaService,
) -> None:
    function = service.add(FunctionConfig("probe", "lambda_probe.echo", timeout_s=20, memory_mb=512))
    _, first = invoke("probe", {"n": 1})
    answer, second = invoke("probe", {"n": 2})
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert first["event"] == {"n": 1} and second["event"] == {"n": 2}  # type: ignore[index]
    assert first["pid"] == second["pid"] and second["calls"] == 2  # type: ignore[index]
    assert 0 < second["remainingMs"] <= 20_000  # type: ignore[index]
    env = second["env"]  # type: ignore[index]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["_HANDLER"] == "lambda_probe.echo" and env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert [o.cold for o in function.outcomes] == [True, False]


def test_a_timeout_kills_the_environment_and_the_next_invocation_starts_cold(service: LambdaService) -> None:
    function = service.add(FunctionConfig("sleepy", "lambda_probe.slow", timeout_s=1))
    answer, error = invoke("sleepy", {"sleep": 5})
    assert answer["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]  # type: ignore[index]
    _, fine = invoke("sleepy", {"sleep": 0})
    assert fine == {"slept": 0}
    first, second = function.outcomes
    assert second.cold and second.pid != first.pid


def test_an_event_is_retried_then_its_destination_record_goes_to_the_failure_queue(
    service: LambdaService, aws_endpoint: str
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    failures = sqs.create_queue(QueueName="probe-failures")["QueueUrl"]
    function = service.add(
        FunctionConfig(
            "crashy", "lambda_probe.crash", max_retries=2, retry_delay_s=0.1, on_failure_queue_url=failures
        )
    )
    answer = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName="crashy", InvocationType="Event", Payload=b'{"jobId": "j-1"}'
    )
    assert answer["StatusCode"] == 202
    function.wait_async(60)
    assert len(function.outcomes) == 3 and all(o.cold for o in function.outcomes)
    (message,) = sqs.receive_message(QueueUrl=failures, WaitTimeSeconds=2)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"jobId": "j-1"}
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in record["responsePayload"]["errorMessage"]
