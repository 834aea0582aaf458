"""Direct uploads on the local disk (the API takes the PUT) and on S3 (moto's server takes a presigned
PUT): slots, single use, expiry, tenant binding, the limits checked on the stored photos, and the job
submitted by reference without a byte of photo in the submit request."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.support import assert_problem, count_jobs, jpeg_bytes, noise_png, png_bytes
from backends import S3Server
from bgremover.api import create_app
from bgremover.api.slot_tokens import SlotClaims, SlotSigner
from bgremover.blobs.keys import direct_upload_key
from bgremover.params import TenantConfigCache
from bgremover.params.local import LocalParameterStore
from bgremover.pipeline import JobRunner
from bgremover.pipeline.engines import Engines
from bgremover.pipeline.runner import RunnerLimits
from bgremover.settings import Settings
from bgremover.wiring import Services, build_services

ACME = {"X-Tenant-ID": "acme"}
SIGNING_KEY = "k" * 32


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "local":
        return {"storage_url": f"file://{tmp_path / 'blobs'}"}
    s3: S3Server = request.getfixturevalue("s3")
    return {"storage_url": f"s3://{s3.create_bucket()}/deploy", "s3_endpoint_url": s3.endpoint_url}


@pytest.fixture
def make(storage: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """A client (and its services) on SQLite + Huey SQLite + the parametrised store."""
    opened: list[tuple[TestClient, Services]] = []

    def build(**overrides: Any) -> tuple[TestClient, Services]:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
            queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
            model_dir=tmp_path / "models",
            upload_signing_key=SIGNING_KEY,
            **{**storage, **overrides},
        )
        services = build_services(settings)
        client = TestClient(create_app(services, settings), raise_server_exceptions=False)
        opened.append((client, services))
        return client, services

    yield build
    for client, services in opened:
        client.close()
        services.close()


@pytest.fixture
def api(make: Any) -> tuple[TestClient, Services]:
    return make()  # type: ignore[no-any-return]


def slots_for(client: TestClient, photos: dict[str, bytes], headers: dict[str, str] = ACME) -> Any:
    files = [
        {"filename": name, "size": len(data), "contentType": "image/png"} for name, data in photos.items()
    ]
    response = client.post("/v1/uploads", json={"files": files}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def put(client: TestClient, slot: dict[str, Any], data: bytes) -> httpx.Response:
    """The PUT a client makes: to this API (local disk) or straight to the store (a presigned URL)."""
    assert slot["method"] == "PUT"
    if slot["url"].startswith("http://testserver/"):
        return client.put(slot["url"], content=data, headers=slot["headers"])
    return httpx.put(slot["url"], content=data, headers=slot["headers"])


def upload(client: TestClient, photos: dict[str, bytes]) -> list[str]:
    issued = slots_for(client, photos)
    for slot, data in zip(issued["slots"], photos.values(), strict=True):
        assert put(client, slot, data).status_code in {200, 204}
    return [slot["slot"] for slot in issued["slots"]]


def submit(
    client: TestClient, slots: list[str], headers: dict[str, str] = ACME, **options: Any
) -> httpx.Response:
    return client.post("/v1/group-images", json={"uploads": slots, **options}, headers=headers)


def test_a_job_is_submitted_by_reference_and_its_photos_stay_where_they_were_put(
    api: tuple[TestClient, Services],
) -> None:
    client, services = api
    counted = {step: _count(step) for step in ("slot_issued", "received", "checked")}
    photos = {"a.png": png_bytes(), "b.jpg": jpeg_bytes(), "c.png": png_bytes((50, 40), (0, 90, 0))}
    issued = slots_for(client, photos)
    assert [slot["imageId"] for slot in issued["slots"]] == ["img-0001", "img-0002", "img-0003"]
    on_s3 = not issued["slots"][0]["url"].startswith("http://testserver/")
    if on_s3:  # the store takes the photo itself, and S3 is told the exact size, type and no overwrite
        query = issued["slots"][0]["url"].split("?", 1)[1]
        assert "X-Amz-Signature" in query and "if-none-match" in query.lower()
        assert issued["slots"][0]["headers"]["If-None-Match"] == "*"
    slots = []
    for slot, data in zip(issued["slots"], photos.values(), strict=True):
        assert put(client, slot, data).status_code in {200, 204}
        slots.append(slot["slot"])

    response = submit(client, slots, threshold=0.3)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    job = services.ledger.get_job("acme", job_id)
    assert job is not None and job.options["threshold"] == 0.3 and job.progress_total == 3
    images = services.ledger.list_images("acme", job_id)
    assert [(i.filename, i.content_type, i.size_bytes) for i in images] == [
        ("a.png", "image/png", len(photos["a.png"])),
        ("b.jpg", "image/jpeg", len(photos["b.jpg"])),  # sniffed from its bytes, not the declared type
        ("c.png", "image/png", len(photos["c.png"])),
    ]
    upload_id = issued["uploadId"]
    assert [i.blob_key for i in images] == [direct_upload_key("acme", upload_id, i.image_id) for i in images]
    assert services.dispatcher.depth() == 1
    original = client.get(f"/v1/jobs/{job_id}/images/img-0002/original", headers=ACME)
    assert (original.status_code, original.content) == (200, photos["b.jpg"])
    received = 0 if on_s3 else 3  # on S3 the store took the photos, not the API
    increments = {step: _count(step) - before for step, before in counted.items()}
    assert increments == {"slot_issued": 3, "received": received, "checked": 3}


def _count(step: str) -> float:
    return REGISTRY.get_sample_value("bgr_direct_uploads_total", {"step": step}) or 0.0


def test_an_upload_makes_one_job_a_replay_returns_it_and_other_options_are_refused(
    api: tuple[TestClient, Services],
) -> None:
    client, services = api
    slots = upload(client, {"a.png": png_bytes(), "b.png": noise_png((20, 20))})
    first = submit(client, slots)
    assert first.status_code == 202
    again = submit(client, slots)
    assert again.status_code == 202 and again.json()["jobId"] == first.json()["jobId"]
    assert again.headers["Idempotent-Replayed"] == "true"
    body = assert_problem(submit(client, slots[:1]), 409, "upload-already-submitted")
    assert body["jobId"] == first.json()["jobId"]
    assert_problem(submit(client, slots, threshold=0.9), 409, "upload-already-submitted")
    assert count_jobs(services) == 1 and services.dispatcher.depth() == 1


def test_a_slot_takes_one_photo_only(api: tuple[TestClient, Services]) -> None:
    client, _ = api
    data = png_bytes()
    (slot,) = slots_for(client, {"a.png": data})["slots"]
    assert put(client, slot, data).status_code in {200, 204}
    second = put(client, slot, data)
    if slot["url"].startswith("http://testserver/"):
        assert_problem(second, 409, "upload-slot-used")
    else:
        assert second.status_code == 412  # S3's answer to If-None-Match: * on an existing key


def test_another_tenants_slot_is_not_found_and_creates_no_job(api: tuple[TestClient, Services]) -> None:
    client, services = api
    slots = upload(client, {"a.png": png_bytes()})
    assert_problem(submit(client, slots, headers={"X-Tenant-ID": "globex"}), 404, "upload-slot-not-found")
    assert count_jobs(services) == 0


def test_expired_tampered_and_mixed_slots_are_refused(api: tuple[TestClient, Services]) -> None:
    client, services = api
    data = png_bytes()
    signer = SlotSigner(SIGNING_KEY.encode())
    claims = SlotClaims("acme", "u" * 32, "img-0001", "a.png", len(data), "image/png", int(time.time()) - 1)
    expired = signer.sign(claims)
    assert_problem(client.put(f"/v1/uploads/{expired}", content=data), 410, "upload-slot-expired")
    assert_problem(submit(client, [expired]), 410, "upload-slot-expired")

    (slot,) = upload(client, {"a.png": data})
    payload, mac = slot.split(".")
    claims_json = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**claims_json, "tenant": "globex"}).encode()).decode()
    assert_problem(submit(client, [f"{forged.rstrip('=')}.{mac}"]), 400, "invalid-upload-slot")
    assert_problem(
        client.put(f"/v1/uploads/{payload}.{mac[:-2]}AA", content=data), 400, "invalid-upload-slot"
    )

    (other,) = upload(client, {"b.png": data})
    assert_problem(submit(client, [slot, other]), 422, "mixed-uploads")
    assert_problem(submit(client, [slot, slot]), 422, "duplicate-upload-slot")
    assert_problem(submit(client, "not-a-list"), 400, "malformed-json")  # type: ignore[arg-type]
    assert count_jobs(services) == 0


def test_a_slot_without_its_photo_is_a_conflict(api: tuple[TestClient, Services]) -> None:
    client, services = api
    issued = slots_for(client, {"a.png": png_bytes(), "b.png": png_bytes()})
    put(client, issued["slots"][0], png_bytes())
    body = assert_problem(submit(client, [s["slot"] for s in issued["slots"]]), 409, "upload-missing")
    assert body["filename"] == "b.png"
    assert count_jobs(services) == 0


def test_declared_sizes_and_counts_are_limited_when_slots_are_asked_for(make: Any) -> None:
    client, _ = make(max_image_bytes=1000, max_images_per_request=2, max_request_bytes=1500)
    ask = lambda *sizes: client.post(  # noqa: E731
        "/v1/uploads", json={"files": [{"filename": "x.png", "size": s} for s in sizes]}, headers=ACME
    )
    assert_problem(ask(1001), 413, "payload-too-large")
    assert_problem(ask(10, 10, 10), 413, "payload-too-large")
    assert_problem(ask(900, 900), 413, "payload-too-large")
    assert_problem(ask(), 400, "no-images")
    assert ask(0).status_code == 422  # sizes are positive
    bad_type = client.post(
        "/v1/uploads",
        json={"files": [{"filename": "x", "size": 5, "contentType": "text/html"}]},
        headers=ACME,
    )
    assert bad_type.status_code == 422


def test_the_stored_photo_must_be_the_declared_size(api: tuple[TestClient, Services]) -> None:
    client, services = api
    data = png_bytes()
    issued = slots_for(client, {"a.png": data})
    (slot,) = issued["slots"]
    if slot["url"].startswith("http://testserver/"):  # the API itself refuses a longer or shorter body
        assert_problem(client.put(slot["url"], content=data + b"x"), 413, "payload-too-large")
        assert_problem(client.put(slot["url"], content=data[:-1]), 400, "upload-size-mismatch")
        services.blobs.put(direct_upload_key("acme", issued["uploadId"], "img-0001"), data + b"!")
    else:  # S3 refuses it on the signature; moto does not check signatures, so the submit must
        assert (
            httpx.put(slot["url"], content=data + b"!", headers={"Content-Type": "image/png"}).status_code
            == 200
        )
    assert_problem(submit(client, [slot["slot"]]), 422, "upload-size-mismatch")
    assert count_jobs(services) == 0


def test_bytes_that_are_no_image_and_bombs_are_refused_from_the_stored_photo(make: Any) -> None:
    client, services = make(max_image_megapixels=0.001)  # 1,000 pixels
    text = b"<html>" + b"x" * 200
    slots = upload(client, {"page.png": text})
    body = assert_problem(submit(client, slots), 415, "unsupported-media-type")
    assert body["filename"] == "page.png"
    slots = upload(client, {"big.png": png_bytes((40, 30))})  # 1,200 pixels, read from the header
    assert_problem(submit(client, slots), 413, "too-many-pixels")
    assert count_jobs(services) == 0


def test_s3_checks_read_a_photo_in_ranges_not_whole(s3: S3Server) -> None:
    """The submit path reads a photo's head and its tail (the ZIP check), never the whole of it."""
    from bgremover.api.uploads import _stage
    from bgremover.blobs.s3 import S3BlobStore

    store = S3BlobStore.from_url(f"s3://{s3.create_bucket()}/p", endpoint_url=s3.endpoint_url)
    data = noise_png((1000, 1000))  # about 3 MB
    store.put("acme/uploads/u/img-0001.original", data)
    fetched: list[int] = []
    store._client.meta.events.register(  # type: ignore[attr-defined]
        "after-call.s3.GetObject", lambda parsed, **_: fetched.append(parsed["ContentLength"])
    )
    with store.open_ranged("acme/uploads/u/img-0001.original") as stream:
        assert stream.seek(0, 2) == len(data)
        staged = _stage("a.png", stream, len(data), Settings())
    assert staged.content_type == "image/png"
    assert len(fetched) <= 3 and sum(fetched) < len(data) / 4, fetched


def test_a_short_signing_key_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="upload_signing_key"):
        Settings(upload_signing_key="short")


def test_a_referenced_job_runs_and_its_outputs_land_beside_the_photos(
    api: tuple[TestClient, Services], model_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    """The worker's own job runner on the same store (local disk, or S3 through moto): it reads each
    photo where the client put it (there is no upload blob to unpack) and writes the outputs beside it."""
    client, services = api
    folder = shared_data / "fashion_products"
    photos = {name: (folder / name).read_bytes() for name in ("ukbench00000.jpg", "ukbench00200.jpg")}
    issued = slots_for(client, photos)
    for slot, data in zip(issued["slots"], photos.values(), strict=True):
        put(client, slot, data)
    response = client.post(
        "/v1/remove-background", json={"uploads": [s["slot"] for s in issued["slots"]]}, headers=ACME
    )
    job_id = response.json()["jobId"]
    configs = TenantConfigCache(LocalParameterStore(tmp_path / "params"), stage="dev", max_age_s=0)
    runner = JobRunner(
        ledger=services.ledger,
        blobs=services.blobs,
        configs=configs,
        engines=Engines(model_dir),
        owner="test-worker",
        limits=RunnerLimits(),
    )
    runner(job_id)
    job = client.get(f"/v1/jobs/{job_id}", headers=ACME).json()
    assert job["status"] == "succeeded", job
    prefix = f"acme/uploads/{issued['uploadId']}/"
    stored = set(services.blobs.list(prefix))
    for image in services.ledger.list_images("acme", job_id):
        assert image.outputs and all(key.startswith(prefix) for key in image.outputs.values())
        assert set(image.outputs.values()) | {image.blob_key} <= stored
    cutout = client.get(job["result"]["images"][0]["cutoutUrl"], headers=ACME)
    assert cutout.status_code == 200 and cutout.content[:8] == b"\x89PNG\r\n\x1a\n"
