"""Webhooks end to end: a job run by a real ``bg-remover serve`` worker produces exactly one signed,
verifiable webhook at a real HTTP receiver, reported in the job JSON; a cancel through the API is
announced too; a tenant without a webhook gets none. The tenants' configuration is written into the
server's file-tree parameter store, which workers read on a tenant's first job."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from e2e_server import Server, wait_for_job

from bgremover.params import config_key
from bgremover.webhooks import generate_secret, verify
from webhook_receiver import Receiver, webhook_receiver


def configure(server: Server, tenant: str, config: dict[str, Any]) -> None:
    path = server.workdir / "var" / "params" / config_key("dev", tenant).lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))


def wait_for_webhook(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The job JSON once its webhook is no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["webhook"] is not None and job["webhook"]["status"] != "pending":
            return job
        time.sleep(0.25)
    raise AssertionError(f"webhook of {job_id} still pending after {timeout} s: {job}")


def messages_for(receiver: Receiver, job_id: str) -> list[dict[str, Any]]:
    return [m for r in receiver.snapshot() if (m := json.loads(r.body))["data"]["jobId"] == job_id]


def test_a_finished_job_sends_one_verifiable_webhook(server: Server, photos: dict[str, bytes]) -> None:
    tenant, secret = f"hooked-{uuid.uuid4().hex[:8]}", generate_secret()
    with webhook_receiver([200]) as receiver:
        configure(server, tenant, {"webhook": {"url": receiver.url, "secret": secret}})
        with server.client(tenant) as client:
            files = [("images", ("a.jpg", photos["a"], "image/jpeg"))]
            job_id = client.post("/v1/remove-background", files=files).json()["jobId"]
            assert wait_for_job(client, job_id)["status"] == "succeeded"
            job = wait_for_webhook(client, job_id)
            time.sleep(3)  # more than a poll period: a duplicate would have arrived by now
        received = receiver.snapshot()
    assert job["webhook"]["status"] == "delivered" and job["webhook"]["attempts"] == 1
    assert job["webhook"]["lastError"] is None and job["webhook"]["deliveredAt"].endswith("Z")
    [request] = received
    body = verify(secret, request.body, request.headers)
    assert body["type"] == "job.succeeded" and body["data"]["jobId"] == job_id
    assert body["data"]["tenantId"] == tenant and body["data"]["status"] == "succeeded"
    assert body["data"]["statusUrl"].endswith(f"/v1/jobs/{job_id}")


def test_a_cancel_is_announced_and_a_tenant_without_webhook_gets_none(
    server: Server, photos: dict[str, bytes]
) -> None:
    tenant, secret = f"hooked-{uuid.uuid4().hex[:8]}", generate_secret()
    files = [("images", (f"{n}.jpg", photos[n], "image/jpeg")) for n in ("a", "b", "c")]
    with webhook_receiver([200]) as receiver:
        configure(server, tenant, {"webhook": {"url": receiver.url, "secret": secret}})
        with server.client(tenant) as client:
            job_id = client.post("/v1/remove-background", files=files).json()["jobId"]
            canceled = client.delete(f"/v1/jobs/{job_id}").json()
            assert canceled["status"] == "canceled", canceled  # three cut-outs take longer than this
            job = wait_for_webhook(client, job_id)
        assert job["webhook"]["status"] == "delivered"
        [message] = messages_for(receiver, job_id)
        assert message["type"] == "job.canceled"
        with server.client(f"quiet-{uuid.uuid4().hex[:8]}") as client:
            quiet_id = client.post("/v1/remove-background", files=files[:1]).json()["jobId"]
            assert wait_for_job(client, quiet_id)["status"] == "succeeded"
            time.sleep(3)
            assert client.get(f"/v1/jobs/{quiet_id}").json()["webhook"] is None
        assert messages_for(receiver, quiet_id) == []
