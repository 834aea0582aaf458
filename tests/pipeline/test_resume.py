"""A retried job resumes where its last attempt died: recorded images are not processed again, their
descriptors are read back, and the groups are those of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipeline_support import Bench, product
from test_runner import smaller

from bgremover.ledger import ImageStatus, JobStatus, JobType
from bgremover.ledger.base import ImageOutcome, JobLedger


class Killed(BaseException):
    """The worker process dies (SIGKILL): no ``except Exception`` sees it, nothing after it runs."""


class RecordingLedger:
    """A test double around the real ledger: notes every image outcome written, and dies right after
    the ``die_after``-th one, or after the first group id of the final step, when asked to."""

    def __init__(self, ledger: JobLedger, die_after: int | None = None, *, die_storing: bool = False) -> None:
        self._ledger = ledger
        self._die_after = die_after
        self._die_storing = die_storing
        self.recorded: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def record_image(self, job_id: str, owner: str, image_id: str, outcome: ImageOutcome) -> None:
        self._ledger.record_image(job_id, owner, image_id, outcome)
        if outcome.status is not None:
            self.recorded.append(image_id)
        if len(self.recorded) == self._die_after or (self._die_storing and outcome.group_id is not None):
            raise Killed


def files(shared_data: Path) -> list[tuple[str, bytes]]:
    a, b, c = product(shared_data, 0), product(shared_data, 200), product(shared_data, 400)
    truncated = (shared_data / "formats" / "truncated.jpg").read_bytes()
    named = [("a.jpg", a), ("bad.jpg", truncated), ("b.jpg", b), ("a-small.jpg", smaller(a))]
    return [*named, ("c.jpg", c), ("b-copy.jpg", b)]


def groups_by_name(bench: Bench, job_id: str) -> list[list[str]]:
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.result is not None
    names = {image.image_id: image.filename for image in bench.ledger.list_images("acme", job_id)}
    return sorted(sorted(names[i] for i in group["imageIds"]) for group in job.result["groups"])


def test_a_retried_group_job_skips_the_images_its_dead_attempt_recorded(
    any_bench: Bench, shared_data: Path
) -> None:
    bench, real = any_bench, any_bench.ledger
    uninterrupted = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    bench.runner()(uninterrupted)
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data))

    bench.ledger = dying = RecordingLedger(real, die_after=3)  # type: ignore[assignment]
    first = bench.runner()
    with pytest.raises(Killed):
        first(job_id)
    real.release(job_id, first.owner)  # what the dead worker's supervisor does (``Reaper.retry_now``)
    bench.ledger = retry = RecordingLedger(real)  # type: ignore[assignment]
    bench.runner()(job_id)
    bench.ledger = real

    images = real.list_images("acme", job_id)
    assert dying.recorded == ["img-0001", "img-0002", "img-0003"]  # one of them the failed image
    assert retry.recorded == ["img-0004", "img-0005", "img-0006"], "no recorded image processed again"
    job = real.get_job("acme", job_id)
    assert job is not None and (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert job.stages["decode"]["images"] == 3 and job.progress_done == 6
    assert job.result is not None and (job.result["succeeded"], job.result["failed"]) == (5, 1)
    assert [image.status for image in images].count(ImageStatus.SUCCEEDED) == 5
    assert groups_by_name(bench, job_id) == groups_by_name(bench, uninterrupted)
    assert groups_by_name(bench, job_id) == [["a-small.jpg", "a.jpg"], ["b-copy.jpg", "b.jpg"], ["c.jpg"]]


def test_a_job_killed_in_its_final_step_groups_again_without_processing_any_image(
    bench: Bench, shared_data: Path
) -> None:
    real = bench.ledger
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    bench.ledger = RecordingLedger(real, die_storing=True)  # type: ignore[assignment]
    first = bench.runner()
    with pytest.raises(Killed):
        first(job_id)
    real.release(job_id, first.owner)
    bench.ledger = retry = RecordingLedger(real)  # type: ignore[assignment]
    bench.runner()(job_id)
    bench.ledger = real

    assert retry.recorded == []
    assert groups_by_name(bench, job_id) == [["a-small.jpg", "a.jpg"], ["b-copy.jpg", "b.jpg"], ["c.jpg"]]
    grouped = {image.image_id: image.group_id for image in real.list_images("acme", job_id)}
    assert sum(group_id is not None for group_id in grouped.values()) == 5


def test_a_recorded_image_without_its_descriptor_is_processed_again(bench: Bench, shared_data: Path) -> None:
    """An attempt that recorded an image before descriptors were stored (an older worker) left
    nothing to group it by: the retry makes it again rather than grouping without it."""
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data)[:1])
    bench.ledger.claim(job_id, "old-worker", lease_seconds=60)
    outcome = ImageOutcome(status=ImageStatus.SUCCEEDED, outputs={})
    bench.ledger.record_image(job_id, "old-worker", "img-0001", outcome)
    bench.ledger.release(job_id, "old-worker")
    bench.runner()(job_id)
    (image,) = bench.ledger.list_images("acme", job_id)
    assert "descriptor" in image.outputs and image.group_id == "group-0001"
