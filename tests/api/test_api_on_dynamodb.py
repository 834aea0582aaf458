"""The API and the ``keys`` command on the DynamoDB ledger (moto's server): submit, read, cancel, list,
idempotent replays and stored API keys, through the same port as on SQL. Only the database URL differs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.support import images_part, png_bytes
from api.test_jobs import finish_as_worker, submit
from bgremover.cli import app as cli
from bgremover.ledger.base import ApiKeyRecord, utcnow
from bgremover.ledger.dynamodb import DynamoDbJobLedger
from bgremover.settings import Settings, get_settings
from bgremover.tenancy.api_keys import issue_key

ACME = {"X-Tenant-ID": "acme"}


@pytest.fixture
def settings(tmp_path: Path, dynamodb_url: str) -> Settings:
    return Settings(
        database_url=dynamodb_url,
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        storage_url=f"file://{tmp_path / 'blobs'}",
        model_dir=tmp_path / "models",
        enqueue_timeout_s=2.0,
    )


def test_the_services_open_the_dynamodb_ledger_and_create_its_table(services) -> None:
    assert isinstance(services.ledger, DynamoDbJobLedger)
    services.ledger.ping()


def test_a_job_is_submitted_read_finished_and_listed(client, services) -> None:
    job_id = submit(client, "acme", png_bytes(), b"\xff\xd8\xff\xe0 truncated jpeg")
    queued = client.get(f"/v1/jobs/{job_id}", headers=ACME).json()
    assert (queued["status"], queued["progress"]) == ("queued", {"done": 0, "total": 2})
    assert client.get(f"/v1/jobs/{job_id}", headers={"X-Tenant-ID": "globex"}).status_code == 404
    finish_as_worker(services, job_id)
    job = client.get(f"/v1/jobs/{job_id}", headers=ACME).json()
    assert job["status"] == "succeeded" and job["result"]["groups"][0]["imageIds"] == ["img-0001"]
    good, bad = job["result"]["images"]
    assert good["groupId"] == "g1" and bad["error"]["detail"] == "truncated JPEG"
    assert client.get(good["thumbnailUrl"], headers=ACME).status_code == 200
    assert [listed.job_id for listed in services.ledger.list_jobs("acme")] == [job_id]


def test_cancel_and_an_idempotent_replay(client) -> None:
    headers = {**ACME, "Idempotency-Key": "order-1"}
    first = client.post("/v1/group-images", files=images_part(png_bytes()), headers=headers)
    again = client.post("/v1/group-images", files=images_part(png_bytes()), headers=headers)
    assert first.status_code == 202 and again.json()["jobId"] == first.json()["jobId"]
    job_id = first.json()["jobId"]
    canceled = client.delete(f"/v1/jobs/{job_id}", headers=ACME)
    assert canceled.status_code == 200, canceled.text
    assert client.get(f"/v1/jobs/{job_id}", headers=ACME).json()["status"] == "canceled"


def test_a_stored_api_key_in_dynamodb_serves_a_request(make_client, services) -> None:
    issued = issue_key()
    services.ledger.key_store().add(ApiKeyRecord(issued.key_id, "initech", issued.digest, "", utcnow()))
    with make_client(auth_mode="on") as client:  # the lifespan loads the stored keys
        assert client.get("/v1/jobs/nope", headers={"X-API-Key": issued.plaintext}).status_code == 404
        assert client.get("/v1/jobs/nope", headers={"X-API-Key": "bgr_x_wrong"}).status_code == 401


def test_the_keys_command_creates_lists_and_revokes_keys_in_dynamodb(
    settings: Settings, services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BGR_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        created = CliRunner().invoke(cli, ["keys", "create", "--tenant", "acme", "--label", "ci"])
        assert created.exit_code == 0, created.output
        key_id = created.stdout.strip().removeprefix("bgr_").split("_", 1)[0]
        [stored] = services.ledger.key_store().active_keys()
        assert (stored.key_id, stored.tenant_id, stored.label) == (key_id, "acme", "ci")
        assert (
            key_id in CliRunner().invoke(cli, ["keys", "list", "--tenant", "acme"], terminal_width=200).stdout
        )
        assert CliRunner().invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
        assert services.ledger.key_store().active_keys() == []
        assert CliRunner().invoke(cli, ["keys", "revoke", "nope"]).exit_code == 1
    finally:
        get_settings.cache_clear()
