"""The API on the distributed backends (PostgreSQL, Redis, S3) while each one is briefly unreachable:
503 with Retry-After and a problem naming the backend, no accepted job lost, no orphan blobs, and
recovery without a restart. Each backend sits behind a TCP proxy that the test cuts and restores."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.engine import make_url

from backends import REDIS_URL, S3Server, TcpProxy, redis_namespace
from bgremover.api import create_app
from bgremover.blobs.keys import upload_key
from bgremover.blobs.s3 import S3BlobStore
from bgremover.ledger.base import JobStatus
from bgremover.ledger.sql import SqlJobLedger
from bgremover.queue.huey_queue import HueyDispatcher, huey_from_url
from bgremover.settings import Settings
from bgremover.wiring import Services

TENANT = "acme"


@dataclass
class Deployment:
    client: TestClient
    services: Services
    proxies: dict[str, TcpProxy]

    def submit(self) -> tuple[int, dict[str, str], dict]:
        buffer = io.BytesIO()
        Image.new("RGB", (40, 30), (10, 200, 30)).save(buffer, format="PNG")
        response = self.client.post(
            "/v1/remove-background",
            files=[("images", ("p.png", buffer.getvalue(), "image/png"))],
            headers={"X-Tenant-ID": TENANT},
        )
        return response.status_code, dict(response.headers), response.json()


@pytest.fixture
def deployment(postgres_url: str, redis_up: None, s3: S3Server) -> Iterator[Deployment]:
    pg_proxy = TcpProxy(5432)
    redis_proxy = TcpProxy(6379)
    s3_proxy = TcpProxy(int(s3.endpoint_url.rsplit(":", 1)[1]))
    database_url = make_url(postgres_url).set(host="127.0.0.1", port=pg_proxy.port)
    with redis_namespace() as name:
        services = Services(
            ledger=SqlJobLedger.from_url(database_url.render_as_string(hide_password=False)),
            blobs=S3BlobStore.from_url(
                f"s3://{s3.create_bucket()}/bgr", endpoint_url=f"http://{s3_proxy.url_host}"
            ),
            dispatcher=HueyDispatcher(
                huey_from_url(REDIS_URL.replace("127.0.0.1:6379", redis_proxy.url_host), name=name)
            ),
        )
        settings = Settings(enqueue_timeout_s=2.0, database_url=postgres_url, queue_url=REDIS_URL)
        client = TestClient(create_app(services, settings), raise_server_exceptions=False)
        yield Deployment(client, services, {"pg": pg_proxy, "redis": redis_proxy, "s3": s3_proxy})
        client.close()
        services.close()
    for proxy in (pg_proxy, redis_proxy, s3_proxy):
        proxy.close()


def status_of(ledger: SqlJobLedger, job_id: str) -> JobStatus:
    job = ledger.get_job(TENANT, job_id)
    assert job is not None, f"job {job_id} lost"
    return job.status


def assert_outage_answer(status: int, headers: dict[str, str], body: dict, slug: str) -> None:
    assert status == 503, body
    assert headers["retry-after"].isdigit() and int(headers["retry-after"]) > 0
    assert headers["content-type"].startswith("application/problem+json")
    assert body["type"].endswith(slug) and body["status"] == 503 and body["detail"]


@pytest.mark.parametrize(
    ("backend", "slug"),
    [("pg", "ledger-unavailable"), ("redis", "enqueue-failed"), ("s3", "storage-unavailable")],
)
def test_brief_outage_answers_503_and_recovers_without_restart(
    deployment: Deployment, backend: str, slug: str
) -> None:
    status, _, first = deployment.submit()
    assert status == 202

    deployment.proxies[backend].cut()
    refused_jobs = set()  # a job written while Redis was down is failed with the reason, not lost
    for _ in range(2):
        status, headers, body = deployment.submit()
        assert_outage_answer(status, headers, body, slug=slug)
        refused_jobs.update([body["jobId"]] if "jobId" in body else [])
    if backend == "pg":
        response = deployment.client.get(f"/v1/jobs/{first['jobId']}", headers={"X-Tenant-ID": TENANT})
        assert_outage_answer(response.status_code, dict(response.headers), response.json(), slug)

    deployment.proxies[backend].restore()
    status, _, second = deployment.submit()
    assert status == 202, second

    ledger, blobs = deployment.services.ledger, deployment.services.blobs
    accepted = [first["jobId"], second["jobId"]]
    assert {status_of(ledger, job_id) for job_id in accepted} == {JobStatus.QUEUED}
    assert {status_of(ledger, job_id) for job_id in refused_jobs} <= {JobStatus.FAILED}
    queued = [task.args[0] for task in iter(deployment.services.dispatcher.next_task, None)]
    assert queued == accepted, "every accepted job reached the queue, and only those"
    known = [*accepted, *refused_jobs]
    uploads = {upload_key(TENANT, job_id) for job_id in known}  # no worker here: nothing unpacked
    assert set(blobs.list(f"{TENANT}/")) == uploads, "no orphan blobs"
