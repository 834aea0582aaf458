"""``GET /v1/jobs`` lists summaries: a page costs the same few ledger reads whatever its jobs hold
(no image records, groups or webhook per job), and each item says what the OpenAPI schema says and
links to the job's full document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.doubles import CountingLedger
from api.support import png_bytes
from bgremover.api import create_app
from bgremover.api.job_list import JobSummary
from bgremover.ledger.base import ImageOutcome, ImageStatus
from bgremover.settings import Settings
from bgremover.wiring import Services

ACME = {"X-Tenant-ID": "acme"}


@pytest.fixture
def counted(services: Services, settings: Settings) -> Iterator[tuple[TestClient, CountingLedger]]:
    ledger = CountingLedger(services.ledger)
    app = create_app(Services(ledger, services.blobs, services.dispatcher), settings)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield client, ledger


def _finished_job(client: TestClient, ledger: CountingLedger, images: int) -> str:
    """A group-images job of ``images`` photos, every one recorded and the job succeeded (notified,
    so it has a webhook delivery too)."""
    files = [("images", (f"p{i}.png", png_bytes(), "image/png")) for i in range(images)]
    job_id = client.post("/v1/group-images", files=files, headers=ACME).json()["jobId"]
    assert ledger.claim(job_id, "w", 60) is not None
    ids = [image.image_id for image in ledger.list_images("acme", job_id)]
    for image_id in ids:
        ledger.record_image(job_id, "w", image_id, ImageOutcome(ImageStatus.SUCCEEDED, group_id="g1"))
    group = {"groupId": "g1", "imageIds": ids, "representativeImageId": ids[0]}
    ledger.succeed(job_id, "w", {"succeeded": images, "failed": 0, "groups": [group]}, notify=True)
    return job_id


def test_a_page_costs_one_ledger_read_whatever_its_jobs_hold(
    counted: tuple[TestClient, CountingLedger],
) -> None:
    client, ledger = counted
    _finished_job(client, ledger, 2)
    ledger.reset()
    assert len(client.get("/v1/jobs", headers=ACME).json()["jobs"]) == 1
    one = (dict(ledger.calls), ledger.statements)

    for images in (3, 12, 25):
        _finished_job(client, ledger, images)
    ledger.reset()
    page = client.get("/v1/jobs", headers=ACME).json()
    assert len(page["jobs"]) == 4
    assert (dict(ledger.calls), ledger.statements) == one
    assert dict(ledger.calls) == {"list_jobs": 1}  # no list_images, no webhook_delivery per job


def test_an_item_is_the_jobs_own_state_with_its_counts_and_a_link_to_the_whole(
    counted: tuple[TestClient, CountingLedger],
) -> None:
    client, ledger = counted
    queued_job = client.post("/v1/remove-background", files=[("images", ("a.png", png_bytes(), "image/png"))])
    finished = _finished_job(client, ledger, 3)
    items = client.get("/v1/jobs", headers=ACME).json()["jobs"]
    assert [item["jobId"] for item in items] == [finished]  # the other job is the default tenant's
    [item] = items
    document = client.get(item["statusUrl"], headers=ACME).json()
    assert document["jobId"] == finished and len(document["result"]["images"]) == 3
    summary = {key: value for key, value in document.items() if key not in ("result", "webhook")}
    assert item == {**summary, "imageCounts": {"succeeded": 3, "failed": 0}, "statusUrl": item["statusUrl"]}
    assert "result" not in item and "webhook" not in item

    [queued] = client.get("/v1/jobs").json()["jobs"]
    assert queued["jobId"] == queued_job.json()["jobId"] and queued["imageCounts"] is None
    documented = {field.alias or name for name, field in JobSummary.model_fields.items()}
    for listed in (item, queued):
        assert set(listed) == documented
        JobSummary.model_validate(listed)


def test_the_openapi_schema_says_what_a_list_item_holds(counted: tuple[TestClient, CountingLedger]) -> None:
    client, _ = counted
    document = client.get("/openapi.json").json()
    ok = document["paths"]["/v1/jobs"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"] == "#/components/schemas/JobPage"
    page = document["components"]["schemas"]["JobPage"]["properties"]
    assert page["jobs"]["items"]["$ref"] == "#/components/schemas/JobSummary"
    item = document["components"]["schemas"]["JobSummary"]["properties"]
    assert {"jobId", "status", "progress", "imageCounts", "statusUrl"} <= set(item)
    assert "result" not in item and "webhook" not in item
