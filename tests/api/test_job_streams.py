"""The job list, event stream and archive over real HTTP (uvicorn on 127.0.0.1), on the SQLite and
PostgreSQL ledgers. The worker's side is played through the ledger's own worker API (claim, stages,
progress, outcomes, succeed), so the stream sees exactly the writes a worker makes."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from api.live_server import live_server
from api.support import assert_problem, png_bytes
from bgremover.api import create_app
from bgremover.blobs.keys import output_key
from bgremover.ledger.base import ImageOutcome, ImageStatus
from bgremover.observability.metrics import EVENT_POLLER_READS
from bgremover.settings import Settings
from bgremover.wiring import Services, build_services

ACME = {"X-Tenant-ID": "acme"}
OTHER = {"X-Tenant-ID": "other"}
POLL_S = 0.05


@dataclass
class Api:
    services: Services
    http: httpx.Client

    def submit(self, count: int = 2, headers: dict[str, str] = ACME, kind: str = "group-images") -> str:
        files = [("images", (f"shoe {i}.png", png_bytes(), "image/png")) for i in range(count)]
        response = self.http.post(f"/v1/{kind}", files=files, headers=headers)
        assert response.status_code == 202, response.text
        return response.json()["jobId"]


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    database_url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    settings = Settings(
        database_url=database_url,
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        storage_url=f"file://{tmp_path / 'blobs'}",
        model_dir=tmp_path / "models",
        events_poll_s=POLL_S,
    )
    services = build_services(settings)
    try:
        with (
            live_server(create_app(services, settings)) as base_url,
            httpx.Client(base_url=base_url, timeout=20) as http,
        ):
            yield Api(services, http)
    finally:
        services.close()


class Worker:
    """Plays a worker on a submitted job through the ledger's worker API."""

    def __init__(self, services: Services, job_id: str, tenant: str = "acme") -> None:
        self.ledger, self.blobs, self.job_id, self.tenant = services.ledger, services.blobs, job_id, tenant
        assert self.ledger.claim(job_id, "test-worker", 60) is not None

    def stage(self, name: str) -> None:
        self.ledger.start_stage(self.job_id, "test-worker", name)

    def progress(self, done: int) -> None:
        self.ledger.set_progress(self.job_id, "test-worker", done)

    def output(self, image_id: str, kind: str, data: bytes) -> str:
        image = self.ledger.get_image(self.tenant, self.job_id, image_id)
        assert image is not None
        key = output_key(image.blob_key, kind)
        self.blobs.put(key, data)
        return key

    def finish(self, bad_image: str | None = None) -> None:
        """Outputs for every image (``bad_image`` fails instead), one group of the good ones."""
        images = self.ledger.list_images(self.tenant, self.job_id)
        good = [image.image_id for image in images if image.image_id != bad_image]
        for image in images:
            if image.image_id == bad_image:
                error = {"type": "urn:bgremover:problem:undecodable-image", "title": "Undecodable image"}
                outcome = ImageOutcome(status=ImageStatus.FAILED, error=error)
            else:
                outputs = {kind: self.output(image.image_id, kind, _output(kind)) for kind in _KINDS}
                outcome = ImageOutcome(
                    ImageStatus.SUCCEEDED, width=32, height=24, group_id="group-0001", outputs=outputs
                )
            self.ledger.record_image(self.job_id, "test-worker", image.image_id, outcome)
        self.progress(len(images))
        group = {"groupId": "group-0001", "imageIds": good, "representativeImageId": good[0]}
        self.ledger.succeed(self.job_id, "test-worker", {"groups": [group]})


_KINDS = ("thumbnail", "cutout", "mask")


def _output(kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "cutout":
        Image.new("RGBA", (32, 24), (200, 30, 30, 128)).save(buffer, format="PNG")
    elif kind == "mask":
        Image.new("L", (32, 24), 255).save(buffer, format="PNG")
    else:
        Image.new("RGB", (16, 12), (200, 30, 30)).save(buffer, format="WEBP")
    return buffer.getvalue()


# --- the event stream -----------------------------------------------------------------------------


@dataclass
class Event:
    event: str
    id: str
    data: dict


def read_events(response: httpx.Response, lines: list[str] | None = None) -> Iterator[Event]:
    """Parse ``text/event-stream`` (comments are kept in ``lines`` when given)."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if lines is not None:
            lines.append(line)
        if line.startswith(":"):
            continue
        if line == "":
            if fields:
                yield Event(fields.get("event", "message"), fields["id"], json.loads(fields["data"]))
            fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")


def test_a_stream_reports_each_change_then_one_final_event_equal_to_the_job(api: Api) -> None:
    job_id = api.submit()
    with api.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=ACME) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
        first = next(events)  # at once, with the current state
        assert (first.event, first.data["status"], first.data["jobId"]) == ("progress", "queued", job_id)

        worker = Worker(api.services, job_id)
        worker.stage("decode")
        seen = [next(events)]
        assert seen[-1].data["status"] == "running"
        worker.stage("cutouts")
        worker.progress(1)
        worker.finish()
        seen += list(events)  # the server closes the stream after the final event
    final = seen[-1]
    assert [event.event for event in seen].count("final") == 1 and final.event == "final"
    assert all(event.event == "progress" for event in seen[:-1])
    assert final.data == api.http.get(f"/v1/jobs/{job_id}", headers=ACME).json()
    assert final.data["status"] == "succeeded" and len(final.data["result"]["images"]) == 2
    ids = [first.id] + [event.id for event in seen]
    assert len(set(ids)) == len(ids), "each event names its own state"


def test_a_stream_of_a_final_job_is_one_final_event(api: Api) -> None:
    job_id = api.submit()
    Worker(api.services, job_id).finish()
    with api.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=ACME) as response:
        events = list(read_events(response))
    assert [event.event for event in events] == ["final"]


def test_last_event_id_resumes_without_repeating_the_state_the_client_has(api: Api) -> None:
    job_id = api.submit()
    with api.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=ACME) as response:
        first = next(read_events(response))
    headers = {**ACME, "Last-Event-ID": first.id}
    with api.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        events = read_events(response)
        threading.Timer(0.3, lambda: Worker(api.services, job_id).stage("decode")).start()
        resumed = next(events)  # not the queued state again: the change after it
    assert resumed.event == "progress" and resumed.data["status"] == "running"
    assert resumed.id != first.id


def test_another_tenants_job_or_an_unknown_job_has_no_stream(api: Api) -> None:
    job_id = api.submit()
    assert_problem(api.http.get(f"/v1/jobs/{job_id}/events", headers=OTHER), 404, "not-found")
    assert_problem(api.http.get("/v1/jobs/nope/events", headers=ACME), 404, "not-found")


def test_heartbeats_are_comment_lines(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fastapi.routing._PING_INTERVAL", 0.1)  # FastAPI's own: 15 s between pings
    job_id = api.submit()
    lines: list[str] = []
    with api.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=ACME) as response:
        events = read_events(response, lines)
        next(events)
        threading.Timer(0.5, lambda: Worker(api.services, job_id).stage("decode")).start()
        next(events)
    assert ": ping" in lines


def test_many_streams_cost_one_ledger_read_per_poll(api: Api) -> None:
    """Twenty streams follow five jobs: the shared poller reads them all once a tick (one batch read on
    the SQL ledger), not once per stream nor once per job."""
    job_ids = [api.submit(1) for _ in range(5)]
    with httpx.Client(base_url=str(api.http.base_url), timeout=20) as http:
        streams = [http.stream("GET", f"/v1/jobs/{job_ids[i % 5]}/events", headers=ACME) for i in range(20)]
        try:
            iterators = [read_events(stream.__enter__()) for stream in streams]
            for events in iterators:
                assert next(events).data["status"] == "queued"
            before = EVENT_POLLER_READS._value.get()
            threading.Event().wait(20 * POLL_S)
            reads = EVENT_POLLER_READS._value.get() - before
            for job_id in job_ids:
                Worker(api.services, job_id).finish()
            for events in iterators:
                assert [event.event for event in events][-1] == "final"
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)
    assert 5 <= reads <= 25, f"{reads} ledger reads in 20 poll intervals for 20 streams on 5 jobs"


# --- the archive ----------------------------------------------------------------------------------


def test_the_archive_holds_every_output_and_groups_json_matching_the_job(api: Api) -> None:
    job_id = api.submit(3)
    Worker(api.services, job_id).finish(bad_image="img-0002")
    response = api.http.get(f"/v1/jobs/{job_id}/archive", headers=ACME)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f'filename="bg-remover-{job_id}.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    expected = {
        f"{folder}/{image}-shoe_{n}{ext}"
        for image, n in (("img-0001", 0), ("img-0003", 2))
        for folder, ext in (("thumbnails", ".webp"), ("cutouts", ".png"), ("masks", ".png"))
    }
    assert set(archive.namelist()) == expected | {"groups.json"}
    job = api.http.get(f"/v1/jobs/{job_id}", headers=ACME).json()
    for image in job["result"]["images"]:
        for kind in ("thumbnail", "cutout", "mask"):
            url = image[f"{kind}Url"]
            if url is None:
                continue
            name = next(n for n in archive.namelist() if n.startswith(f"{kind}s/{image['imageId']}-"))
            assert archive.read(name) == api.http.get(url, headers=ACME).content
    with Image.open(io.BytesIO(archive.read("cutouts/img-0001-shoe_0.png"))) as cutout:
        assert cutout.mode == "RGBA"
    groups = json.loads(archive.read("groups.json"))
    assert groups["groups"] == job["result"]["groups"]
    by_id = {image["imageId"]: image for image in groups["images"]}
    assert by_id["img-0002"]["status"] == "failed" and by_id["img-0002"]["files"] == {}
    assert by_id["img-0002"]["error"]["title"] == "Undecodable image"
    assert by_id["img-0001"]["files"]["cutout"] == "cutouts/img-0001-shoe_0.png"


def test_no_archive_before_the_job_is_final_nor_for_another_tenant(api: Api) -> None:
    job_id = api.submit()
    assert_problem(api.http.get(f"/v1/jobs/{job_id}/archive", headers=ACME), 409, "job-not-finished")
    Worker(api.services, job_id).finish()
    assert_problem(api.http.get(f"/v1/jobs/{job_id}/archive", headers=OTHER), 404, "not-found")


# --- the job list -------------------------------------------------------------------------------------


def test_the_list_pages_through_the_tenants_own_jobs_newest_first(api: Api) -> None:
    mine = [api.submit(1) for _ in range(5)]
    theirs = api.submit(1, headers=OTHER)
    listed: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.http.get("/v1/jobs", params=params, headers=ACME).json()
        assert len(page["jobs"]) <= 2
        listed += [job["jobId"] for job in page["jobs"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert listed == mine[::-1]
    assert [job["jobId"] for job in api.http.get("/v1/jobs", headers=OTHER).json()["jobs"]] == [theirs]
    one = api.http.get("/v1/jobs", params={"limit": 1}, headers=ACME).json()["jobs"][0]
    document = api.http.get(one["statusUrl"], headers=ACME).json()  # a summary links to the whole
    assert document["jobId"] == one["jobId"] == mine[-1]
    assert {key: document[key] for key in one if key in document} == {
        key: value for key, value in one.items() if key in document
    }


def test_the_list_filters_by_status_and_type(api: Api) -> None:
    group = api.submit(1)
    cutout = api.submit(1, kind="remove-background")
    Worker(api.services, group).finish()

    def ids(**params: str) -> list[str]:
        response = api.http.get("/v1/jobs", params=params, headers=ACME)
        assert response.status_code == 200, response.text
        return [job["jobId"] for job in response.json()["jobs"]]

    assert ids(status="succeeded") == [group]
    assert ids(type="remove-background") == [cutout]
    assert ids(status="queued", type="group-images") == []


def test_a_bad_cursor_or_filter_is_a_problem(api: Api) -> None:
    assert_problem(api.http.get("/v1/jobs", params={"cursor": "bm9wZQ"}, headers=ACME), 400, "invalid-cursor")
    assert_problem(api.http.get("/v1/jobs", params={"cursor": "%%%"}, headers=ACME), 400, "invalid-cursor")
    assert_problem(api.http.get("/v1/jobs", params={"status": "done"}, headers=ACME), 422, "invalid-request")
    assert_problem(api.http.get("/v1/jobs", params={"limit": 0}, headers=ACME), 422, "invalid-request")


def test_the_list_stream_and_archive_count_against_the_tenants_read_rate(make_client) -> None:
    client = make_client(read_rate_limit="3/minute")
    for path in ("/v1/jobs", "/v1/jobs/nope/events", "/v1/jobs/nope/archive"):
        assert client.get(path, headers=ACME).status_code in {200, 404}
    for path in ("/v1/jobs", "/v1/jobs/nope/events", "/v1/jobs/nope/archive"):
        assert_problem(client.get(path, headers=ACME), 429, "rate-limited")
    assert client.get("/v1/jobs", headers=OTHER).status_code == 200  # another tenant's own budget
