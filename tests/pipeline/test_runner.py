"""Jobs through the real pipeline: cut-outs, groups, per-image errors, limits and failures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_support import Bench, product

from bgremover.blobs.keys import upload_key
from bgremover.ledger import ImageStatus, JobStatus, JobType
from bgremover.resilience.watchdog import HARD_LIMIT_FACTOR, guard_process, release_guard


def smaller(data: bytes, factor: float = 0.8) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.resize((int(image.width * factor), int(image.height * factor))).save(out, "JPEG", quality=85)
    return out.getvalue()


def test_remove_background_makes_cutouts_masks_and_thumbnails(bench: Bench, shared_data: Path) -> None:
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))], format="png")
    bench.runner()(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert list(job.stages) == ["decode", "thumbnails", "cutouts", "store"]
    assert all(stage["ms"] > 0 for stage in job.stages.values())
    assert (job.progress_done, job.progress_total, job.result) == (1, 1, {"succeeded": 1, "failed": 0})
    (image,) = bench.ledger.list_images("acme", job_id)
    assert image.status is ImageStatus.SUCCEEDED and image.error is None
    assert set(image.outputs) == {"thumbnail", "mask", "cutout"}
    cutout = Image.open(io.BytesIO(bench.blobs.get(image.outputs["cutout"])))
    mask = np.asarray(Image.open(io.BytesIO(bench.blobs.get(image.outputs["mask"]))))
    assert cutout.mode == "RGBA" and cutout.size == (image.width, image.height)
    assert mask.shape == (image.height, image.width)
    foreground = (mask > 127).mean()
    assert 0.05 < foreground < 0.95  # a product on a white background: neither nothing nor everything
    assert np.asarray(cutout)[0, 0, 3] < 30  # the corner is background: transparent
    thumbnail = Image.open(io.BytesIO(bench.blobs.get(image.outputs["thumbnail"])))
    assert thumbnail.size == (218, 255)  # already smaller than 256: never enlarged


def test_group_images_groups_the_same_product_and_records_a_corrupt_image(
    any_bench: Bench, shared_data: Path
) -> None:
    bench = any_bench
    a, b, c = product(shared_data, 0), product(shared_data, 200), product(shared_data, 400)
    truncated = (shared_data / "formats" / "truncated.jpg").read_bytes()
    files = [("a.jpg", a), ("b.jpg", b), ("a-small.jpg", smaller(a)), ("bad.jpg", truncated)]
    files += [("c.jpg", c), ("b-copy.jpg", b)]
    job_id = bench.submit(JobType.GROUP_IMAGES, files)
    bench.runner()(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert list(job.stages) == ["decode", "thumbnails", "cutouts", "embeddings", "grouping", "store"]
    assert job.stages["decode"]["images"] == 6 and job.stages["embeddings"]["images"] == 5
    images = {image.filename: image for image in bench.ledger.list_images("acme", job_id)}
    bad = images.pop("bad.jpg")
    assert bad.status is ImageStatus.FAILED and bad.group_id is None
    assert bad.error is not None and bad.error["stage"] == "decode"
    assert bad.error["type"].endswith("image-truncated") and bad.error["requestId"] == "req-test"
    by_group: dict[str, set[str]] = {}
    for name, image in images.items():
        assert image.status is ImageStatus.SUCCEEDED and set(image.outputs) == {"thumbnail", "descriptor"}
        by_group.setdefault(image.group_id or "", set()).add(name)
    assert sorted(map(sorted, by_group.values())) == [
        ["a-small.jpg", "a.jpg"],
        ["b-copy.jpg", "b.jpg"],
        ["c.jpg"],
    ]
    assert job.result is not None
    groups = job.result["groups"]
    assert len(groups) == 3
    for group in groups:
        assert group["representativeImageId"] in group["imageIds"]
        assert {images_by_id(images)[i] for i in group["imageIds"]} == by_group[group["groupId"]]
    assert (job.result["succeeded"], job.result["failed"]) == (5, 1)


def images_by_id(images: dict[str, object]) -> dict[str, str]:
    return {image.image_id: name for name, image in images.items()}  # type: ignore[attr-defined]


def test_a_retried_job_finishes_unpacking_the_upload_before_reading_images(
    bench: Bench, shared_data: Path
) -> None:
    photos = [product(shared_data, n) for n in range(2)]
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, [(f"{n}.jpg", photo) for n, photo in enumerate(photos)])
    first = bench.ledger.list_images("acme", job_id)[0]
    bench.blobs.put(first.blob_key, photos[0])  # an attempt that died after unpacking one original
    bench.ledger.claim(job_id, "dead-1", lease_seconds=60)
    bench.ledger.release(job_id, "dead-1")
    bench.runner()(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2), job
    images = bench.ledger.list_images("acme", job_id)
    assert [image.status for image in images] == [ImageStatus.SUCCEEDED] * 2
    assert [bench.blobs.get(image.blob_key) for image in images] == photos
    assert not bench.blobs.exists(upload_key("acme", job_id))


def test_tenant_configuration_applies_to_its_jobs(bench: Bench, shared_data: Path) -> None:
    bench.configure("acme", {"thumbnail_size": 64})
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))])
    bench.runner()(job_id)
    (image,) = bench.ledger.list_images("acme", job_id)
    thumbnail = Image.open(io.BytesIO(bench.blobs.get(image.outputs["thumbnail"])))
    assert max(thumbnail.size) == 64


class RecordingWatchdog:
    """Test double of ``bgremover.resilience.watchdog.Watchdog``: records the deadlines it is given."""

    def __init__(self) -> None:
        self.armed: list[float] = []

    def arm(self, seconds: float) -> None:
        self.armed.append(seconds)

    def disarm(self) -> None:
        self.armed.append(0.0)

    def close(self) -> None:
        return None


def test_the_hard_kill_follows_the_tenants_own_time_limit(bench: Bench, shared_data: Path) -> None:
    watchdog = RecordingWatchdog()
    guard_process(watchdog)  # type: ignore[arg-type]
    try:
        bench.configure("acme", {"job_time_limit_s": 2000})
        bench.runner()(bench.submit(JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))]))
        assert watchdog.armed == [2000 * HARD_LIMIT_FACTOR]
        bench.configure("acme", {})  # the deployment's limit, armed by the consumer before the task
        bench.runner()(bench.submit(JobType.REMOVE_BACKGROUND, [("b.jpg", product(shared_data, 1))]))
        assert watchdog.armed == [2000 * HARD_LIMIT_FACTOR]
    finally:
        release_guard()


def test_a_job_past_its_time_limit_fails_with_the_stage(bench: Bench, shared_data: Path) -> None:
    bench.configure("acme", {"job_time_limit_s": 0.001})
    files = [(f"{n}.jpg", product(shared_data, n)) for n in range(3)]
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, files)
    bench.runner()(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.FAILED
    # The limit is checked between images: the first one had just been cut out (no embeddings here).
    assert job.error is not None and job.error["status"] == 504 and job.error["stage"] == "cutouts"
    assert job.progress_done < 3


def test_unreadable_configuration_fails_the_job_that_needs_it(bench: Bench, shared_data: Path) -> None:
    bench.configure("acme", "{not json")
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))])
    bench.runner()(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error is not None and job.error["type"].endswith("configuration-unavailable")


def test_duplicate_and_canceled_messages_are_no_ops(bench: Bench, shared_data: Path) -> None:
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))])
    bench.runner()(job_id)
    bench.runner()(job_id)  # the queue delivered it twice
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    canceled = bench.submit(JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))])
    bench.ledger.cancel("acme", canceled)
    bench.runner()(canceled)
    job = bench.ledger.get_job("acme", canceled)
    assert job is not None and (job.status, job.attempts, job.progress_done) == (JobStatus.CANCELED, 0, 0)


def test_a_job_out_of_attempts_is_failed(bench: Bench, shared_data: Path) -> None:
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))])
    for owner in ("dead-1", "dead-2"):
        bench.ledger.claim(job_id, owner, lease_seconds=60)
        bench.ledger.release(job_id, owner)
    bench.runner(max_attempts=2)(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.attempts == 3
    assert job.error is not None and job.error["type"].endswith("too-many-attempts")


@pytest.mark.parametrize("fmt", ["webp", "jpg"])
def test_cutout_options_reach_the_output(bench: Bench, shared_data: Path, fmt: str) -> None:
    job_id = bench.submit(
        JobType.REMOVE_BACKGROUND, [("a.jpg", product(shared_data, 0))], format=fmt, max_size=100
    )
    bench.runner()(job_id)
    (image,) = bench.ledger.list_images("acme", job_id)
    cutout = Image.open(io.BytesIO(bench.blobs.get(image.outputs["cutout"])))
    assert cutout.format == {"webp": "WEBP", "jpg": "JPEG"}[fmt]
    assert max(cutout.size) == 100
