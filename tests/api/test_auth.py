"""With auth on, the tenant comes from credentials; jobs stay with the tenant that created them."""

from __future__ import annotations

from api.support import assert_problem, images_part, png_bytes

KEYS = {"acme": "acme-secret-key", "globex": "globex-secret-key"}


def test_requests_without_or_with_bad_credentials_are_401(make_client, services):
    client = make_client(auth_mode="on", api_keys=KEYS)
    files = images_part(png_bytes())
    response = client.post("/v1/group-images", files=files, headers={"X-Tenant-ID": "acme"})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(
        client.post("/v1/group-images", files=files, headers={"X-API-Key": "nope"}), 401, "unauthorized"
    )
    assert sum(services.ledger.count_by_status().values()) == 0


def test_api_key_selects_the_tenant_and_isolates_jobs(make_client, services):
    client = make_client(auth_mode="on", api_keys=KEYS)
    acme, globex = {"X-API-Key": KEYS["acme"]}, {"X-API-Key": KEYS["globex"]}
    job_id = client.post("/v1/group-images", files=images_part(png_bytes()), headers=acme).json()["jobId"]
    assert services.ledger.get_job("acme", job_id) is not None
    assert client.get(f"/v1/jobs/{job_id}", headers=acme).json()["tenantId"] == "acme"
    assert_problem(client.get(f"/v1/jobs/{job_id}", headers=globex), 404, "not-found")
    # a tenant header naming another tenant than the key is refused, trusted or not
    spoofed = client.get(f"/v1/jobs/{job_id}", headers={**globex, "X-Tenant-ID": "acme"})
    assert_problem(spoofed, 403, "tenant-mismatch")
    same = client.get(f"/v1/jobs/{job_id}", headers={**acme, "X-Tenant-ID": "ACME"})
    assert same.status_code == 200


def test_invalid_tenant_header_in_the_embedded_default_is_400(client):
    response = client.post(
        "/v1/group-images", files=images_part(png_bytes()), headers={"X-Tenant-ID": "../x"}
    )
    assert_problem(response, 400, "invalid-tenant")


def test_stored_keys_are_read_through_the_ledgers_engine_and_serve_a_request(make_client, services):
    """One engine and pool on BGR_DATABASE_URL, not a second one for the key store; the ledger's
    engine outlives the resolver's stop (the ledger closes it)."""
    from bgremover.ledger.base import ApiKeyRecord, utcnow
    from bgremover.tenancy.api_keys import issue_key

    issued = issue_key()
    client = make_client(auth_mode="on")
    store = client.app.state.api.resolver._stored._store
    assert store.engine is services.ledger.engine
    store.add(ApiKeyRecord(issued.key_id, "initech", issued.digest, "", utcnow()))
    with client:  # the lifespan loads the stored keys
        assert client.get("/v1/jobs/nope", headers={"X-API-Key": issued.plaintext}).status_code == 404
    assert services.ledger.count_active_jobs("initech") == 0  # the shared engine still works
