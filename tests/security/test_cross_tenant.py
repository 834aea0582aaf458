"""Cross-tenant access: every job endpoint answers 404 (never 403, which would confirm the job exists)
to another tenant, with API keys and in the embedded default, and no guessed id yields a blob."""

from __future__ import annotations

import pytest

from api.support import assert_problem, images_part, jpeg_bytes, png_bytes
from bgremover.api.representation import OUTPUT_KINDS
from bgremover.ledger.base import ImageOutcome, ImageStatus, JobStatus

KEYS = {"acme": "acme-secret-key", "globex": "globex-secret-key"}
KINDS = ("original", *OUTPUT_KINDS)


def _finish_with_every_output(services, tenant: str, job_id: str) -> dict[str, bytes]:
    """Record, through the real ledger's worker operations, an output blob of every kind for img-0001."""
    ledger = services.ledger
    assert ledger.claim(job_id, "worker-1", 60) is not None
    blobs = {kind: jpeg_bytes((8 + i, 6)) for i, kind in enumerate(OUTPUT_KINDS)}
    outputs = {}
    for kind, blob in blobs.items():
        outputs[kind] = f"{tenant}/jobs/{job_id}/images/img-0001/{kind}"
        services.blobs.put(outputs[kind], blob)
    ok = ImageOutcome(status=ImageStatus.SUCCEEDED, width=32, height=24, group_id="g1", outputs=outputs)
    ledger.record_image(job_id, "worker-1", "img-0001", ok)
    ledger.succeed(job_id, "worker-1", {"groups": []})
    return blobs


def _headers(mode: str, tenant: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[tenant]} if mode == "api-keys" else {"X-Tenant-ID": tenant}


@pytest.fixture(params=["api-keys", "embedded-default"])
def tenants(request, make_client):
    """A client and the headers of two tenants, under one tenancy mode."""
    mode = request.param
    client = make_client(auth_mode="on", api_keys=KEYS) if mode == "api-keys" else make_client()
    return client, _headers(mode, "acme"), _headers(mode, "globex")


def _submit(client, headers: dict[str, str], blob: bytes) -> str:
    response = client.post("/v1/group-images", files=images_part(blob), headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


def test_every_job_endpoint_is_404_for_another_tenant(tenants, services):
    client, acme, globex = tenants
    job_id = _submit(client, acme, png_bytes())
    _finish_with_every_output(services, "acme", job_id)
    base = f"/v1/jobs/{job_id}"
    assert client.get(base, headers=acme).status_code == 200
    assert_problem(client.get(base, headers=globex), 404, "not-found")
    for kind in KINDS:
        url = f"{base}/images/img-0001/{kind}"
        assert client.get(url, headers=acme).status_code == 200, kind  # the owner does get it
        assert_problem(client.get(url, headers=globex), 404, "not-found")
    assert_problem(client.delete(base, headers=globex), 404, "not-found")
    assert services.ledger.get_job("acme", job_id).status is JobStatus.SUCCEEDED


def test_cancel_by_another_tenant_leaves_a_queued_job_queued(tenants, services):
    client, acme, globex = tenants
    job_id = _submit(client, acme, png_bytes())
    assert_problem(client.delete(f"/v1/jobs/{job_id}", headers=globex), 404, "not-found")
    assert services.ledger.get_job("acme", job_id).status is JobStatus.QUEUED


def test_guessed_image_ids_never_return_another_tenants_blob(tenants, services):
    client, acme, globex = tenants
    acme_blob, globex_blob = png_bytes(colour=(1, 2, 3)), png_bytes(colour=(250, 251, 252))
    acme_job, globex_job = _submit(client, acme, acme_blob), _submit(client, globex, globex_blob)
    for image_id in ("img-0001", "img-0000", "img-0002", "..", "%2e%2e"):
        response = client.get(f"/v1/jobs/{acme_job}/images/{image_id}/original", headers=globex)
        assert response.status_code == 404, (image_id, response.status_code)
        assert acme_blob not in response.content
    # the same image id under globex's own job is globex's image, never acme's
    own = client.get(f"/v1/jobs/{globex_job}/images/img-0001/original", headers=globex)
    assert own.status_code == 200 and own.content == globex_blob
