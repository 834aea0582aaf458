"""The deployment of ``deploy/aws/template.yaml`` with every function running in the Lambda runtime
protocol: the API, worker and failures handlers under ``awslambdaric`` in the Lambda service double
(``tests/lambda_service.py``), moto's server for DynamoDB, S3, SSM and SQS.

An API Gateway v2 event with photos -> 202 -> the worker invoked asynchronously -> the job succeeds
with groups, thumbnails and cut-outs in S3, with the tenant's configuration from an SSM that answers
8 s late (the submit never waits for it, the worker does). A second delivery of the same job, at the
same time, is a no-op. A worker that crashes on every attempt leaves the job failed, with the error,
through the on-failure queue and the failures handler.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from apigw_events import http_api_event, json_event, multipart_event, response_body
from PIL import Image

from api.support import noise_png
from backends import S3_TEST_ENV, S3Server
from bgremover.ledger.base import Job, JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.params import config_key
from bgremover.webhooks import generate_secret, verify
from lambda_service import (
    REGION,
    FunctionConfig,
    LambdaFunction,
    LambdaService,
    function_environment,
    lambda_service,
)
from slow_http_proxy import SlowHttpProxy, slow_http_proxy
from webhook_receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.slow
TENANT = "acme"
SSM_DELAY_S = 8.0
THUMBNAIL_SIZE = 96
PREFIX = "bg-remover"


class XRayDaemon:
    """A UDP socket where the X-Ray SDK sends its segment documents (``AWS_XRAY_DAEMON_ADDRESS``)."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.documents: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.socket.getsockname()[1]}"

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self.socket.recv(65536)
            except TimeoutError:
                continue
            _, _, body = datagram.partition(b"\n")  # '{"format": "json", "version": 1}\n{...}'
            self.documents.append(json.loads(body))

    def names(self) -> set[str]:
        found: set[str] = set()

        def walk(document: dict[str, Any]) -> None:
            found.add(document.get("name", ""))
            for child in document.get("subsegments", []):
                walk(child)

        for document in list(self.documents):
            walk(document)
        return found

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()


@dataclass
class Deployment:
    service: LambdaService
    api: LambdaFunction
    worker: LambdaFunction
    failures: LambdaFunction
    ledger: JobLedger
    bucket: str
    ssm: SlowHttpProxy
    xray: XRayDaemon
    stage: str
    photos: list[Path] = field(default_factory=list)

    def call_api(self, event: dict[str, Any]) -> dict[str, Any]:
        answer = boto3.client("lambda", region_name=REGION).invoke(
            FunctionName=self.api.config.name, Payload=json.dumps(event).encode()
        )
        assert "FunctionError" not in answer, answer["Payload"].read()
        return json.loads(answer["Payload"].read())  # type: ignore[no-any-return]

    def submit(self, count: int) -> tuple[str, float]:
        files = [(path.name, path.read_bytes()) for path in self.photos[:count]]
        event = multipart_event(
            "/v1/group-images", files, headers={"x-tenant-id": TENANT}, remove_background="true"
        )
        started = time.perf_counter()
        response = self.call_api(event)
        elapsed = time.perf_counter() - started
        assert response["statusCode"] == 202, response_body(response)
        return json.loads(response_body(response))["jobId"], elapsed

    def wait_final(self, job_id: str, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.ledger.get_job_for_worker(job_id)
            if job is not None and job.status.is_final:
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} not final after {timeout} s: {job}")

    def stored(self, key: str) -> bytes:
        """A blob of the deployment, by its key under ``BGR_STORAGE_URL``'s prefix."""
        answer = boto3.client("s3").get_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")
        return answer["Body"].read()  # type: ignore[no-any-return]


@pytest.fixture
def deployment(
    tmp_path: Path,
    dynamodb_url: str,
    s3: S3Server,
    aws_endpoint: str,
    ssm_stage: str,
    model_dir: Path,
    shared_data: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployment]:
    bucket = s3.create_bucket()
    ledger = ledger_from_url(dynamodb_url, migrate=True)  # the table, as the template creates it
    failure_queue = boto3.client("sqs").create_queue(QueueName=f"{ssm_stage}-failures")["QueueUrl"]
    variant = getattr(request, "param", {})
    worker_models = variant.get("worker_models", str(model_dir))
    traced = variant.get("traced", True)  # False: no sampled trace and no X-Ray daemon at all
    base_env = function_environment(
        **S3_TEST_ENV,
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ENDPOINT_URL_DYNAMODB=os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        BGR_CONFIG_FILE=str(tmp_path / "no-config.toml"),
        BGR_DATABASE_URL=dynamodb_url,
        BGR_DATABASE_MIGRATE="false",
        BGR_STORAGE_URL=f"s3://{bucket}/{PREFIX}",
        BGR_QUEUE_URL="lambda://bgr-worker",
        BGR_PARAM_STORE_URL="ssm://",
        BGR_STAGE=ssm_stage,
        BGR_ENQUEUE_TIMEOUT_S="5",
        BGR_UPLOAD_SIGNING_KEY="k" * 32,
        BGR_MODEL_DIR=str(model_dir),
        BGR_WEBHOOK_BACKOFF_S="0.2",
        POWERTOOLS_SERVICE_NAME="bg-remover",
        HOME=str(tmp_path),
    )
    xray = XRayDaemon()
    with slow_http_proxy(aws_endpoint) as ssm, lambda_service(base_env, tmp_path) as service:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", service.endpoint_url)  # this test's own calls
        api = service.add(
            FunctionConfig(
                "bgr-api",
                "bgremover.aws.api.handler",
                {"AWS_ENDPOINT_URL_LAMBDA": service.endpoint_url},
                timeout_s=29,
                concurrency=2,
            )
        )
        worker = service.add(
            FunctionConfig(
                "bgr-worker",
                "bgremover.aws.worker.handler",
                {
                    "BGR_MODEL_DIR": worker_models,
                    "AWS_ENDPOINT_URL_SSM": ssm.url,
                    "AWS_ENDPOINT_URL_LAMBDA": service.endpoint_url,  # a big job's helper invocations
                    **variant.get("worker_env", {}),
                    **({"AWS_XRAY_DAEMON_ADDRESS": xray.address} if traced else {}),
                },
                timeout_s=300,
                memory_mb=3008,
                concurrency=2,
                max_retries=2,
                retry_delay_s=0.5,
                on_failure_queue_url=failure_queue,
                trace_sampled=traced,
            )
        )
        failures = service.add(FunctionConfig("bgr-failures", "bgremover.aws.failures.handler", timeout_s=30))
        service.map_queue(failure_queue, "bgr-failures")
        yield Deployment(
            service,
            api,
            worker,
            failures,
            ledger,
            bucket,
            ssm,
            xray,
            ssm_stage,
            sorted((shared_data / "sod300" / "images").glob("*.jpg")),
        )
    xray.close()
    ledger.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A tenant's webhook receiver: the first attempt refused, the retry accepted."""
    with webhook_receiver([500, 200]) as running:
        yield running


def emf_documents(log: Path) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric-format lines a function wrote."""
    documents = []
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def metric_values(documents: list[dict[str, Any]], name: str) -> list[tuple[float, dict[str, Any]]]:
    """``(value, document)`` for each EMF document holding the metric (values of one flush summed)."""
    found = []
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if any(metric["Name"] == name for metric in directive["Metrics"]):
                assert directive["Namespace"] == "BgRemover" and document["service"] == "bg-remover"
                value = document[name]
                found.append((sum(value) if isinstance(value, list) else value, document))
    return found


def test_a_photo_job_through_api_gateway_and_an_async_worker_in_the_lambda_runtime(
    deployment: Deployment, receiver: Receiver
) -> None:
    webhook = {"url": receiver.url, "secret": generate_secret()}
    config = json.dumps({"thumbnail_size": THUMBNAIL_SIZE, "webhook": webhook})
    boto3.client("ssm").put_parameter(Name=config_key(deployment.stage, TENANT), Type="String", Value=config)
    deployment.ssm.delay_s = SSM_DELAY_S
    assert deployment.call_api(http_api_event("GET", "/healthz"))["statusCode"] == 200  # the API's cold start

    job_id, submit_s = deployment.submit(3)
    assert submit_s < 4.0, "the submit never reads SSM (the machine is small and shared)"
    duplicate = json.dumps({"jobId": job_id}).encode()  # Lambda delivers an event at least once
    boto3.client("lambda").invoke(FunctionName="bgr-worker", InvocationType="Event", Payload=duplicate)

    job = deployment.wait_final(job_id, 600)
    deployment.worker.wait_async(120)
    assert job.status == "succeeded" and job.attempts == 1, job
    assert deployment.ssm.delayed >= 1, "the worker waited for the slow SSM"
    answer = deployment.call_api(http_api_event("GET", f"/v1/jobs/{job_id}", headers={"x-tenant-id": TENANT}))
    body = json.loads(response_body(answer))
    assert body["status"] == "succeeded" and body["result"]["groups"], body
    for image in deployment.ledger.list_images(TENANT, job_id):
        assert {"thumbnail", "cutout"} <= set(image.outputs), image
        with Image.open(io.BytesIO(deployment.stored(image.outputs["thumbnail"]))) as thumbnail:
            assert max(thumbnail.size) == THUMBNAIL_SIZE, "the tenant's SSM configuration was used"
        with Image.open(io.BytesIO(deployment.stored(image.outputs["cutout"]))) as cutout:
            assert "A" in cutout.getbands(), "a cut-out has alpha"
    assert [o.cold for o in deployment.api.outcomes] == [True, False, False]  # warm reuse

    # Two deliveries, both invocations succeeded, and the claim let one of them run the job.
    assert len(deployment.worker.outcomes) == 2 and all(o.error is None for o in deployment.worker.outcomes)
    emf = emf_documents(deployment.worker.log)
    assert sum(value for value, _ in metric_values(emf, "JobsSucceeded")) == 1
    assert len(metric_values(emf, "DeliveriesIgnored")) == 1
    assert len(metric_values(emf, "ColdStart")) == 2
    stages = {document["stage"] for _, document in metric_values(emf, "StageDuration")}
    assert {"decode", "thumbnails", "cutouts", "embeddings", "grouping", "store"} <= stages
    handled = [
        json.loads(line)
        for line in deployment.worker.log.read_text().splitlines()
        if '"job_delivery_handled"' in line
    ]
    assert {(line["tenant_id"], line["job_id"], line["claimed"]) for line in handled} == {
        (TENANT, job_id, True),
        (TENANT, job_id, False),
    }
    assert all(line["function_request_id"] for line in handled)
    names = deployment.xray.names()
    assert {"## job", "## stage cutouts", "## stage grouping"} <= names, names

    # The job's webhook went out at the end of the invocation and was refused (500); the scheduled
    # tick sends the retry.
    (refused,) = receiver.snapshot()
    announced = verify(webhook["secret"], refused.body, refused.headers)
    assert announced["type"] == "job.succeeded" and announced["data"]["jobId"] == job_id
    time.sleep(1.0)  # past BGR_WEBHOOK_BACKOFF_S
    assert deployment.worker.invoke(json.dumps({"task": "webhooks"}).encode()).error is None
    assert [r.body for r in receiver.snapshot()] == [refused.body, refused.body]
    assert (
        sum(value for value, _ in metric_values(emf_documents(deployment.worker.log), "WebhooksHandled")) == 2
    )

    # The same worker on an SQS batch (sqs:// queues): a late delivery and a body naming no job are
    # both acknowledged, and the job is untouched.
    batch = {"Records": [sqs_record("m-1", json.dumps({"jobId": job_id})), sqs_record("m-2", "{}")]}
    outcome = deployment.worker.invoke(json.dumps(batch).encode())
    assert outcome.error is None and outcome.json() == {"batchItemFailures": []}
    assert deployment.wait_final(job_id, 1).attempts == 1


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:bgr-jobs",
        "awsRegion": REGION,
    }


@pytest.mark.parametrize("deployment", [{"worker_models": "/nonexistent/models"}], indirect=True)
def test_a_worker_crashing_on_every_attempt_leaves_the_job_failed_with_the_error(
    deployment: Deployment,
) -> None:
    job_id, _ = deployment.submit(1)
    job = deployment.wait_final(job_id, 300)
    assert job.status == "failed" and job.error is not None, job
    assert job.error["type"].endswith("worker-failed")
    assert "RetriesExhausted, 3 attempts" in job.error["detail"], job.error
    assert len(deployment.worker.outcomes) == 3
    assert all(o.error and o.cold for o in deployment.worker.outcomes)
    last_error = deployment.worker.outcomes[-1].json()
    assert last_error["errorMessage"] in job.error["detail"]
    (failed,) = metric_values(emf_documents(deployment.failures.log), "JobsFailed")
    assert failed[0] == 1


@pytest.mark.parametrize("deployment", [{"traced": False}], indirect=True)
def test_thirty_photos_of_2_mb_by_direct_upload_then_the_worker_in_the_lambda_runtime(
    deployment: Deployment,
) -> None:
    """60 MB, ten Lambda requests' worth: slots from the API function, the photos PUT straight to S3,
    the submit by reference, and the asynchronously invoked worker reads them from the bucket. This
    worker runs untraced and with no X-Ray daemon anywhere: the Tracer must cost it nothing."""
    photos = [(f"p{i:02d}.png", noise_png((816, 816))) for i in range(30)]
    assert all(len(data) > 1_990_000 for _, data in photos)
    tenant = {"x-tenant-id": TENANT}
    declared = [{"filename": name, "size": len(data), "contentType": "image/png"} for name, data in photos]
    issued = deployment.call_api(json_event("POST", "/v1/uploads", {"files": declared}, headers=tenant))
    slots = json.loads(response_body(issued))["slots"]
    for slot, (_, data) in zip(slots, photos, strict=True):
        assert httpx.put(slot["url"], content=data, headers=slot["headers"]).status_code == 200
    submit = json_event("POST", "/v1/group-images", {"uploads": [s["slot"] for s in slots]}, headers=tenant)
    assert len(submit["body"]) < 30_000
    accepted = deployment.call_api(submit)
    assert accepted["statusCode"] == 202, response_body(accepted)
    job_id = json.loads(response_body(accepted))["jobId"]

    job = deployment.wait_final(job_id, 900)
    assert job.status == "succeeded" and job.progress_done == 30, job
    images = deployment.ledger.list_images(TENANT, job_id)
    assert len(images) == 30 and all(image.status == "succeeded" for image in images)
    assert all(deployment.stored(image.outputs["thumbnail"]) for image in images)
    emf = emf_documents(deployment.worker.log)
    assert sum(value for value, _ in metric_values(emf, "ImagesSucceeded")) == 30
    assert not deployment.xray.documents


@pytest.mark.parametrize(
    "deployment", [{"traced": False, "worker_env": {"BGR_JOB_CHUNK_IMAGES": "2"}}], indirect=True
)
def test_a_big_jobs_chunks_are_shared_by_parallel_worker_invocations(deployment: Deployment) -> None:
    """Twelve photos in chunks of two: the invocation that claims the job invokes the worker once per
    chunk beyond its own, and the helper invocations (two run at once here) share the chunks."""
    job_id, _ = deployment.submit(12)
    job = deployment.wait_final(job_id, 600)
    assert job.status == "succeeded" and job.progress_done == 12, job
    chunks = deployment.ledger.list_chunks(job_id)
    assert [(c.start, c.stop, c.status) for c in chunks] == [(n, n + 2, "done") for n in range(0, 12, 2)]
    images = deployment.ledger.list_images(TENANT, job_id)
    assert all(image.status == "succeeded" and image.group_id for image in images)
    deadline = time.monotonic() + 120
    while len(deployment.worker.outcomes) < 6 and time.monotonic() < deadline:
        time.sleep(0.5)  # the helper messages that found no chunk left end too
    assert len(deployment.worker.outcomes) == 6 and not any(o.error for o in deployment.worker.outcomes)
    emf = emf_documents(deployment.worker.log)
    per_invocation = [value for value, _ in metric_values(emf, "ImagesSucceeded") if value]
    assert sum(per_invocation) == 12 and len(per_invocation) >= 2, per_invocation
