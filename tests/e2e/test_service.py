"""The service end to end: a real ``bg-remover serve`` (uvicorn + worker processes), real HTTP,
the SQLite ledger and queue, local blobs and the real models."""

from __future__ import annotations

import io
import time
import uuid

import numpy as np
import psutil
from e2e_server import Server, wait_for_job
from PIL import Image

from bgremover.blobs.keys import job_prefix, original_key, output_key
from bgremover.blobs.local import LocalBlobStore


def upload(files: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (name, data, "image/jpeg")) for name, data in files]


def smaller(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.resize((image.width * 4 // 5, image.height * 4 // 5)).save(out, "JPEG", quality=85)
    return out.getvalue()


def test_group_images_job_groups_products_and_records_the_corrupt_image(
    server: Server, photos: dict[str, bytes]
) -> None:
    files = [("a.jpg", photos["a"]), ("b.jpg", photos["b"]), ("a-small.jpg", smaller(photos["a"]))]
    files += [("broken.jpg", photos["truncated"]), ("c.jpg", photos["c"]), ("b-again.jpg", photos["b"])]
    with server.client() as client:
        started = time.perf_counter()
        response = client.post("/bg-remover/group-images", files=upload(files))
        submit_s = time.perf_counter() - started
        assert response.status_code == 202, response.text
        assert submit_s < 5  # accepted at once; the work happens in a worker
        accepted = response.json()
        assert accepted["status"] == "queued" and response.headers["Location"].endswith(accepted["jobId"])
        job = wait_for_job(client, accepted["jobId"])
        assert job["status"] == "succeeded", job
        assert job["tenantId"] == "default" and job["progress"] == {"done": 6, "total": 6}
        assert list(job["stages"]) == ["decode", "thumbnails", "cutouts", "embeddings", "grouping", "store"]
        images = {image["filename"]: image for image in job["result"]["images"]}
        broken = images.pop("broken.jpg")
        assert broken["status"] == "failed" and broken["groupId"] is None
        assert broken["error"]["stage"] == "decode" and broken["error"]["type"].endswith("image-truncated")
        members: dict[str, set[str]] = {}
        for name, image in images.items():
            assert image["status"] == "succeeded" and image["error"] is None
            members.setdefault(image["groupId"], set()).add(name)
        expected = [["a-small.jpg", "a.jpg"], ["b-again.jpg", "b.jpg"], ["c.jpg"]]
        assert sorted(sorted(group) for group in members.values()) == expected
        for group in job["result"]["groups"]:
            assert group["representativeImageId"] in group["imageIds"]
        thumbnail = client.get(images["a.jpg"]["thumbnailUrl"])
        assert thumbnail.status_code == 200
        assert Image.open(io.BytesIO(thumbnail.content)).format == "WEBP"


def test_remove_background_job_serves_cutouts_and_masks(server: Server, photos: dict[str, bytes]) -> None:
    with server.client("shop-1") as client:
        response = client.post("/v1/remove-background", files=upload([("a.jpg", photos["a"])]))
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["jobId"])
        assert job["status"] == "succeeded", job
        (image,) = job["result"]["images"]
        cutout = Image.open(io.BytesIO(client.get(image["cutoutUrl"]).content))
        mask = np.asarray(Image.open(io.BytesIO(client.get(image["maskUrl"]).content)))
        assert cutout.mode == "RGBA" and cutout.size == (image["width"], image["height"])
        assert mask.shape == (image["height"], image["width"])
        assert 0.05 < (mask > 127).mean() < 0.95
        assert np.asarray(cutout)[0, 0, 3] < 30
        assert client.get(image["originalUrl"]).content == photos["a"]
    blobs = LocalBlobStore(server.workdir / "var" / "blobs")  # the worker unpacked the submit's upload
    job_id = response.json()["jobId"]
    original = original_key("shop-1", job_id, "img-0001")
    expected = [original, *(output_key(original, kind) for kind in ("cutout", "mask", "thumbnail"))]
    assert sorted(blobs.list(job_prefix("shop-1", job_id))) == sorted(expected)


def test_cancel_stops_the_worker(server: Server, shared_data: object) -> None:
    folder = shared_data / "fashion_products"  # type: ignore[operator]
    files = [(f"{n}.jpg", (folder / f"ukbench{n:05d}.jpg").read_bytes()) for n in range(40)]
    with server.client("shop-2") as client:
        job_id = client.post("/v1/remove-background", files=upload(files)).json()["jobId"]
        wait_for_job(client, job_id, until={"running", "succeeded"}, timeout=60)
        canceled = client.delete(f"/v1/jobs/{job_id}")
        assert canceled.status_code in (200, 202), canceled.text
        assert canceled.json()["status"] == "canceled"
        time.sleep(3)
        first = client.get(f"/v1/jobs/{job_id}").json()
        time.sleep(2)
        later = client.get(f"/v1/jobs/{job_id}").json()
        assert later["status"] == "canceled"
        assert later["progress"]["done"] == first["progress"]["done"] < 40  # the worker stopped


def test_another_tenants_job_is_not_found(server: Server, photos: dict[str, bytes]) -> None:
    with server.client("acme") as acme, server.client("globex") as globex:
        job_id = acme.post("/v1/remove-background", files=upload([("a.jpg", photos["a"])])).json()["jobId"]
        job = wait_for_job(acme, job_id)
        assert job["tenantId"] == "acme"
        image_id = job["result"]["images"][0]["imageId"]
        assert globex.get(f"/v1/jobs/{job_id}").status_code == 404
        assert globex.get(f"/v1/jobs/{job_id}/images/{image_id}/cutout").status_code == 404
        assert globex.delete(f"/v1/jobs/{job_id}").status_code == 404
        assert acme.get(f"/v1/jobs/{job_id}/images/{image_id}/cutout").status_code == 200


def test_idempotency_key_returns_the_first_job_and_rejects_another_body(
    server: Server, photos: dict[str, bytes]
) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    with server.client("acme") as client:
        first = client.post("/v1/remove-background", files=upload([("a.jpg", photos["a"])]), headers=key)
        again = client.post("/v1/remove-background", files=upload([("a.jpg", photos["a"])]), headers=key)
        assert first.status_code == 202 and again.status_code in (200, 202)
        assert again.json()["jobId"] == first.json()["jobId"]
        other = client.post("/v1/remove-background", files=upload([("c.jpg", photos["c"])]), headers=key)
        assert other.status_code == 422
        assert other.headers["content-type"].startswith("application/problem+json")
        with server.client("globex") as globex:  # keys are scoped to the tenant
            theirs = globex.post("/v1/remove-background", files=upload([("c.jpg", photos["c"])]), headers=key)
            assert theirs.status_code == 202 and theirs.json()["jobId"] != first.json()["jobId"]


def test_workers_run_below_the_api_priority_and_report_metrics_through_it(
    server: Server, photos: dict[str, bytes]
) -> None:
    with server.client() as client:
        job_id = client.post("/v1/remove-background", files=upload([("a.jpg", photos["a"])])).json()["jobId"]
        assert wait_for_job(client, job_id)["status"] == "succeeded"  # the workers are up by now
        metrics = client.get("/metrics").text
    api = psutil.Process(server.process.pid)
    workers = [p for p in api.children(recursive=True) if "worker" in p.cmdline()]
    assert len(workers) >= 2, "serve started no worker tree (consumer + process workers)"
    assert api.nice() == 0
    assert all(worker.nice() >= 10 for worker in workers)
    # Counted in a worker process, exposed by the API's /metrics (multiprocess collection).
    succeeded = [line for line in metrics.splitlines() if line.startswith("bgr_images_processed_total{")]
    assert any('status="succeeded"' in line and float(line.split()[-1]) >= 1 for line in succeeded), succeeded
    assert any(line.startswith("bgr_stage_duration_seconds_count{") for line in metrics.splitlines())
