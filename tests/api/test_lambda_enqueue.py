"""Submits on ``BGR_QUEUE_URL=lambda://FUNCTION``: each accepted job is one Event invocation carrying
its id; an invoke endpoint that hangs answers 503 + Retry-After within ``BGR_ENQUEUE_TIMEOUT_S`` and
fails the job at stage ``enqueue``, and the same Idempotency-Key then goes through once it answers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from api.support import assert_problem, images_part, png_bytes
from bgremover.ledger.base import JobStatus
from bgremover.queue.factory import dispatcher_from_url
from bgremover.wiring import Services
from lambda_invoke_api import LambdaInvokeApi


@pytest.fixture
def lambda_services(services: Services, lambda_api: LambdaInvokeApi) -> Iterator[Services]:
    dispatcher = dispatcher_from_url("lambda://bgr-worker")
    yield dataclasses.replace(services, dispatcher=dispatcher)
    dispatcher.close()


def test_each_accepted_job_is_invoked_once(make_client, lambda_services, lambda_api) -> None:  # type: ignore[no-untyped-def]
    client = make_client(lambda_services)
    job_ids = [
        client.post("/v1/remove-background", files=images_part(png_bytes())).json()["jobId"] for _ in range(3)
    ]
    assert lambda_api.job_ids("bgr-worker") == job_ids
    assert client.get("/readyz").json()["checks"]["queue"] == "ok"  # a DryRun invocation


def test_a_hanging_invoke_endpoint_gives_503_in_time_then_the_key_is_retried(  # type: ignore[no-untyped-def]
    make_client, lambda_services, lambda_api
) -> None:
    files, headers = images_part(png_bytes()), {"Idempotency-Key": "order-7"}
    lambda_api.hang()
    refused = make_client(lambda_services, enqueue_timeout_s=1.0)
    started = time.perf_counter()
    response = refused.post("/v1/group-images", files=files, headers=headers)
    elapsed = time.perf_counter() - started
    body = assert_problem(response, 503, "enqueue-failed")
    assert int(response.headers["retry-after"]) > 0
    assert elapsed < 2.5
    job = lambda_services.ledger.get_job("default", body["jobId"])
    assert job.status is JobStatus.FAILED and job.error["stage"] == "enqueue"

    lambda_api.release()  # the hung invocation now lands too: it names the failed job, which stays failed
    retry = make_client(lambda_services).post("/v1/group-images", files=files, headers=headers)
    assert retry.status_code == 202
    accepted = retry.json()["jobId"]
    assert accepted != body["jobId"]
    deadline = time.monotonic() + 5
    while lambda_api.job_ids("bgr-worker").count(accepted) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lambda_api.job_ids("bgr-worker").count(accepted) == 1
