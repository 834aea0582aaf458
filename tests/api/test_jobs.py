"""Reading, downloading and cancelling jobs; tenants see only their own."""

from __future__ import annotations

from api.support import assert_problem, images_part, jpeg_bytes, png_bytes
from bgremover.ledger.base import ImageOutcome, ImageStatus


def submit(client, tenant: str = "acme", *blobs: bytes) -> str:
    response = client.post(
        "/v1/group-images", files=images_part(*(blobs or (png_bytes(),))), headers={"X-Tenant-ID": tenant}
    )
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


def finish_as_worker(services, job_id: str) -> bytes:
    """What a worker records, through the real ledger's worker operations; returns the thumbnail."""
    ledger = services.ledger
    assert ledger.claim(job_id, "worker-1", 60) is not None
    ledger.finish_stage(job_id, "worker-1", "thumbnails", 12.5)
    thumbnail = jpeg_bytes((8, 6))
    services.blobs.put(f"acme/jobs/{job_id}/images/img-0001/thumbnail", thumbnail)
    outputs = {"thumbnail": f"acme/jobs/{job_id}/images/img-0001/thumbnail"}
    ok = ImageOutcome(status=ImageStatus.SUCCEEDED, width=32, height=24, group_id="g1", outputs=outputs)
    ledger.record_image(job_id, "worker-1", "img-0001", ok)
    bad = {"type": "urn:bgremover:problem:decode", "status": 422, "detail": "truncated JPEG"}
    ledger.record_image(job_id, "worker-1", "img-0002", ImageOutcome(status=ImageStatus.FAILED, error=bad))
    ledger.set_progress(job_id, "worker-1", 2)
    groups = [{"groupId": "g1", "imageIds": ["img-0001"], "representativeImageId": "img-0001"}]
    ledger.succeed(job_id, "worker-1", {"groups": groups})
    return thumbnail


def test_queued_job_document(client):
    job_id = submit(client)
    response = client.get(f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "acme"})
    assert response.status_code == 200
    job = response.json()
    assert job["jobId"] == job_id and job["tenantId"] == "acme" and job["type"] == "group-images"
    assert job["status"] == "queued"
    assert job["progress"] == {"done": 0, "total": 1}
    assert job["error"] is None and job["result"] is None
    assert job["createdAt"].endswith("Z") and job["updatedAt"].endswith("Z")


def test_finished_job_lists_every_image_with_urls_and_errors(client, services):
    job_id = submit(client, "acme", png_bytes(), b"\xff\xd8\xff\xe0 truncated jpeg")
    thumbnail = finish_as_worker(services, job_id)
    job = client.get(f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "acme"}).json()
    assert job["status"] == "succeeded"
    assert job["stages"]["thumbnails"]["ms"] == 12.5
    assert job["result"]["groups"][0]["imageIds"] == ["img-0001"]
    good, bad = job["result"]["images"]
    assert good["status"] == "succeeded" and good["groupId"] == "g1" and good["width"] == 32
    assert good["cutoutUrl"] is None
    assert bad["status"] == "failed" and bad["error"]["detail"] == "truncated JPEG" and bad["groupId"] is None

    download = client.get(good["thumbnailUrl"], headers={"X-Tenant-ID": "acme"})
    assert download.status_code == 200
    assert download.content == thumbnail
    assert download.headers["content-type"] == "image/jpeg"
    original = client.get(good["originalUrl"], headers={"X-Tenant-ID": "acme"})
    assert original.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_outputs_and_unknown_kinds_are_404(client):
    job_id = submit(client)
    base = f"/v1/jobs/{job_id}/images/img-0001"
    assert_problem(client.get(f"{base}/cutout", headers={"X-Tenant-ID": "acme"}), 404, "not-found")
    assert_problem(client.get(f"{base}/secrets", headers={"X-Tenant-ID": "acme"}), 404, "not-found")
    assert_problem(
        client.get(f"/v1/jobs/{job_id}/images/img-9/original", headers={"X-Tenant-ID": "acme"}),
        404,
        "not-found",
    )


def test_another_tenants_job_is_not_found_anywhere(client, services):
    job_id = submit(client, "acme")
    other = {"X-Tenant-ID": "globex"}
    assert_problem(client.get(f"/v1/jobs/{job_id}", headers=other), 404, "not-found")
    assert_problem(client.get(f"/v1/jobs/{job_id}/images/img-0001/original", headers=other), 404, "not-found")
    assert_problem(client.delete(f"/v1/jobs/{job_id}", headers=other), 404, "not-found")
    assert services.ledger.get_job("acme", job_id).status.value == "queued"


def test_cancel_a_queued_job_and_a_final_job_stays_final(client, services):
    job_id = submit(client)
    response = client.delete(f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "acme"})
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert services.ledger.claim(job_id, "worker-1", 60) is None

    done = submit(client, "acme", png_bytes(), png_bytes())
    finish_as_worker(services, done)
    assert client.delete(f"/v1/jobs/{done}", headers={"X-Tenant-ID": "acme"}).json()["status"] == "succeeded"


def test_unknown_route_is_a_problem_and_request_id_is_echoed(client):
    response = client.get("/v1/nothing", headers={"X-Request-ID": "trace-123"})
    body = assert_problem(response, 404, "not-found")
    assert body["requestId"] == "trace-123"
    weird = client.get("/v1/nothing", headers={"X-Request-ID": "bad id with spaces"})
    assert weird.headers["x-request-id"] != "bad id with spaces"
