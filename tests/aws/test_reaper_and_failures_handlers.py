"""``bgremover.aws.reaper.handler`` and ``bgremover.aws.failures.handler`` in the Lambda runtime
protocol (the Lambda service double), on a SQLite ledger the test shares with them: the reaper
re-invokes a job whose invocation was lost and publishes the oldest queued job's age; the failures
handler fails a job from Lambda's destination record (running: as its dead owner; queued: never
started), leaves a final job alone and drops a record that names no job. Their cold start loads no
inference library, and the zip they share with the API holds every dependency they import."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bgremover.ledger.base import JobLedger, JobStatus, JobType, NewImage, NewJob
from bgremover.ledger.factory import ledger_from_url
from lambda_service import FunctionConfig, LambdaService, function_environment, lambda_service

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass
class Stack:
    service: LambdaService
    ledger: JobLedger

    def new_job(self) -> str:
        job_id = uuid.uuid4().hex
        image = NewImage("img-0001", "a.jpg", f"acme/uploads/{job_id}", "image/jpeg", 10)
        self.ledger.create_job(NewJob(job_id, "acme", JobType.GROUP_IMAGES, [image]))
        return job_id

    def call(self, function: str, event: dict[str, Any]) -> Any:
        outcome = self.service.functions[function].invoke(json.dumps(event).encode())
        assert outcome.error is None, outcome.payload
        return outcome.json()

    def emf(self, function: str, name: str) -> list[float]:
        values = []
        for line in self.service.functions[function].log.read_text().splitlines():
            if line.startswith("{") and f'"{name}"' in line and '"_aws"' in line:
                value = json.loads(line)[name]
                values.append(sum(value) if isinstance(value, list) else value)
        return values


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = ledger_from_url(database, migrate=True)
    env = function_environment(
        PYTHONPATH=f"{function_environment()['PYTHONPATH']}:{HERE}",
        BGR_DATABASE_URL=database,
        BGR_DATABASE_MIGRATE="false",
        BGR_QUEUE_URL="lambda://bgr-worker",
        BGR_STORAGE_URL=f"file://{tmp_path / 'blobs'}",
        BGR_CONFIG_FILE=str(tmp_path / "none.toml"),
        BGR_QUEUED_GRACE_S="0.5",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    with lambda_service(env, tmp_path) as service:
        endpoint = {"AWS_ENDPOINT_URL_LAMBDA": service.endpoint_url}
        service.add(FunctionConfig("bgr-worker", "lambda_probe.echo"))
        service.add(FunctionConfig("bgr-reaper", "bgremover.aws.reaper.handler", endpoint, timeout_s=60))
        service.add(FunctionConfig("bgr-failures", "bgremover.aws.failures.handler", timeout_s=30))
        yield Stack(service, ledger)
    ledger.close()


def destination_record(job_id: str, error: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "timestamp": "2026-12-07T00:00:00.000Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:bgr-worker:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"jobId": job_id},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    }


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{n}",
                "receiptHandle": f"r-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:failures",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def test_the_reaper_invokes_a_lost_job_again_and_publishes_the_oldest_queued_age(stack: Stack) -> None:
    job_id = stack.new_job()
    time.sleep(1.0)  # past BGR_QUEUED_GRACE_S: its invocation counts as lost
    summary = stack.call("bgr-reaper", {"source": "aws.scheduler"})
    assert summary["requeued"] == [job_id] and summary["oldestQueuedJobAgeSeconds"] >= 1.0
    stack.service.functions["bgr-worker"].wait_async(30)
    (redelivered,) = stack.service.functions["bgr-worker"].outcomes
    assert redelivered.json()["event"] == {"jobId": job_id}
    assert stack.emf("bgr-reaper", "OldestQueuedJobAgeSeconds")[0] >= 1.0
    assert stack.emf("bgr-reaper", "JobsFailed") == [0]


def test_the_failures_handler_fails_what_every_invocation_failed_and_nothing_else(stack: Stack) -> None:
    running, queued, done = stack.new_job(), stack.new_job(), stack.new_job()
    stack.ledger.claim(running, "worker-that-died", 600)
    stack.ledger.claim(done, "worker-done", 600)
    stack.ledger.succeed(done, "worker-done", {"groups": []})
    crash = {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited with error: signal: killed"}
    event = sqs_event(
        json.dumps(destination_record(running, crash)),
        json.dumps(destination_record(done, crash)),
        json.dumps({"jobId": queued}),  # dead-lettered by an sqs:// queue
        "not json",
    )
    assert stack.call("bgr-failures", event) == {"batchItemFailures": []}

    failed = stack.ledger.get_job_for_worker(running)
    assert failed is not None and failed.status is JobStatus.FAILED and failed.error is not None
    assert failed.error["type"].endswith("worker-failed")
    assert "RetriesExhausted, 3 attempts" in failed.error["detail"]
    assert "Runtime.ExitError: Runtime exited with error: signal: killed" in failed.error["detail"]
    never_ran = stack.ledger.get_job_for_worker(queued)
    assert never_ran is not None and never_ran.status is JobStatus.FAILED
    assert "after 1 receives" in never_ran.error["detail"]  # type: ignore[index]
    assert stack.ledger.get_job_for_worker(done).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert stack.emf("bgr-failures", "JobsFailed") == [2]


PROBE = """
import importlib, importlib.metadata, json, sys
importlib.import_module(sys.argv[1])
owners = importlib.metadata.packages_distributions()
print(json.dumps({
    "heavy": [m for m in ("onnxruntime", "cv2", "sklearn") if m in sys.modules],
    "distributions": sorted({d for m in list(sys.modules) for d in owners.get(m.split(".")[0], [])}),
}))
"""


@pytest.mark.parametrize("module", ["bgremover.aws.reaper", "bgremover.aws.failures"])
def test_the_zip_functions_load_no_inference_library_and_their_zip_has_what_they_import(
    module: str, tmp_path: Path
) -> None:
    env = function_environment(
        BGR_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
        BGR_QUEUE_URL=f"sqlite:///{tmp_path / 'queue.db'}",
        BGR_STORAGE_URL=f"file://{tmp_path / 'blobs'}",
        BGR_CONFIG_FILE=str(tmp_path / "none.toml"),
        AWS_DEFAULT_REGION="us-east-1",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["heavy"] == []
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    runtime = {canonicalize_name(Requirement(line).name) for line in declared}
    lines = (ROOT / "deploy" / "aws" / "functions" / "requirements.txt").read_text().splitlines()
    in_zip = {
        canonicalize_name(Requirement(line).name) for line in lines if line and not line.startswith("#")
    }
    imported = {canonicalize_name(name) for name in loaded["distributions"]} & runtime - {"rich"}
    assert imported and imported <= in_zip, imported - in_zip
