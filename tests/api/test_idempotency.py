"""Idempotency-Key: same key and body return the first job; another body is 422; keys are per tenant."""

from __future__ import annotations

from api.support import assert_problem, count_jobs, images_part, png_bytes


def post(client, key: str, *blobs: bytes, tenant: str = "acme", **data):
    return client.post(
        "/v1/group-images",
        files=images_part(*blobs),
        data=data,
        headers={"Idempotency-Key": key, "X-Tenant-ID": tenant},
    )


def test_same_key_and_body_returns_the_first_job_without_a_second_message(client, services):
    image = png_bytes()
    first = post(client, "order-1", image, threshold="0.3")
    again = post(client, "order-1", image, threshold="0.3")
    assert first.status_code == again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"]
    assert again.headers["idempotent-replayed"] == "true"
    assert count_jobs(services) == 1
    assert services.dispatcher.depth() == 1
    assert len(list(services.blobs.list("acme/"))) == 1


def test_same_key_with_other_images_or_options_is_422(client, services):
    first = post(client, "order-2", png_bytes())
    other_image = post(client, "order-2", png_bytes(colour=(0, 0, 255)))
    other_options = post(client, "order-2", png_bytes(), threshold="0.5")
    for response in (other_image, other_options):
        body = assert_problem(response, 422, "idempotency-key-reused")
        assert body["jobId"] == first.json()["jobId"]
    assert count_jobs(services) == 1
    assert len(list(services.blobs.list("acme/"))) == 1


def test_keys_are_scoped_to_the_tenant(client, services):
    image = png_bytes()
    a = post(client, "shared-key", image, tenant="acme")
    b = post(client, "shared-key", image, tenant="globex")
    assert a.json()["jobId"] != b.json()["jobId"]
    assert count_jobs(services) == 2


def test_malformed_key_is_400(client, services):
    assert_problem(post(client, "has space", png_bytes()), 400, "invalid-idempotency-key")
    assert count_jobs(services) == 0
