"""Big jobs in chunks, on the real pipeline and models, on SQLite and PostgreSQL (and DynamoDB where
the ledger's concurrency matters): the same groups and per-image records as one worker, several
runners sharing one job, a coordinator that dies, cancel, a chunk tried too often, stage totals and
progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import Bench, product
from test_runner import smaller

from bgremover.ledger import ImageStatus, JobStatus, JobType
from bgremover.ledger.base import ChunkStatus, ImageOutcome, JobLedger, LeaseLostError
from bgremover.ledger.factory import ledger_from_url
from bgremover.queue.huey_queue import HueyDispatcher


class Killed(BaseException):
    """The worker process dies (SIGKILL): no ``except Exception`` sees it, nothing after it runs."""


class Watched:
    """A test double around the real ledger: notes each image outcome written (through the job's
    lease or a chunk's) and each progress write, and calls ``after_record(n)`` after the n-th outcome."""

    def __init__(self, ledger: JobLedger, after_record: Callable[[int], None] | None = None) -> None:
        self._ledger = ledger
        self._after_record = after_record
        self.recorded: list[str] = []
        self.progress: list[int] = []
        self.chunks: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def record_image(self, job_id: str, owner: str, image_id: str, outcome: ImageOutcome) -> None:
        self._ledger.record_image(job_id, owner, image_id, outcome)
        self._recorded(image_id, outcome)

    def record_chunk_image(
        self, job_id: str, index: int, owner: str, image_id: str, outcome: ImageOutcome
    ) -> None:
        self._ledger.record_chunk_image(job_id, index, owner, image_id, outcome)
        self._recorded(image_id, outcome)

    def claim_chunk(self, job_id: str, owner: str, lease_seconds: float) -> Any:
        chunk = self._ledger.claim_chunk(job_id, owner, lease_seconds)
        if chunk is not None:
            self.chunks.append(chunk.index)
        return chunk

    def set_progress(self, job_id: str, owner: str, done: int) -> None:
        self._ledger.set_progress(job_id, owner, done)
        self.progress.append(done)

    def _recorded(self, image_id: str, outcome: ImageOutcome) -> None:
        if outcome.status is None:
            return
        self.recorded.append(image_id)
        if self._after_record is not None:
            self._after_record(len(self.recorded))


def files(shared_data: Path) -> list[tuple[str, bytes]]:
    """Ten photos: three products in several shots, a smaller copy, an exact copy and a corrupt file."""
    p = {n: product(shared_data, n) for n in (0, 1, 2, 200, 201, 400, 401)}
    truncated = (shared_data / "formats" / "truncated.jpg").read_bytes()
    named = [("p0.jpg", p[0]), ("p1.jpg", p[1]), ("p200.jpg", p[200]), ("p0-small.jpg", smaller(p[0]))]
    named += [("bad.jpg", truncated), ("p201.jpg", p[201]), ("p400.jpg", p[400]), ("p401.jpg", p[401])]
    return [*named, ("p200-copy.jpg", p[200]), ("p2.jpg", p[2])]


def snapshot(bench: Bench, job_id: str) -> tuple[Any, list[tuple[Any, ...]]]:
    """What a client sees of a finished job: its result and each image's record (outputs by kind)."""
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    images = [
        (i.image_id, i.status, i.error and i.error["type"], i.width, i.height, i.group_id, sorted(i.outputs))
        for i in bench.ledger.list_images("acme", job_id)
    ]
    return job.result, images


def stage_images(bench: Bench, job_id: str) -> dict[str, Any]:
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None
    return {name: stage.get("images") for name, stage in job.stages.items()}


def test_a_chunked_group_job_gives_exactly_the_records_and_groups_of_one_worker(
    every_bench: Bench, shared_data: Path
) -> None:
    bench = every_bench
    whole = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    bench.runner(chunk_images=0)(whole)
    chunked = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    real = bench.ledger
    bench.ledger = watched = Watched(real)  # type: ignore[assignment]
    bench.runner(chunk_images=3)(chunked)
    bench.ledger = real

    assert real.list_chunks(whole) == [], "chunk_images 0: never split"
    chunks = real.list_chunks(chunked)
    assert [(c.start, c.stop, c.status, c.done) for c in chunks] == [
        (0, 3, ChunkStatus.DONE, 3),
        (3, 6, ChunkStatus.DONE, 3),
        (6, 9, ChunkStatus.DONE, 3),
        (9, 10, ChunkStatus.DONE, 1),
    ]
    assert snapshot(bench, chunked) == snapshot(bench, whole)
    result, _ = snapshot(bench, chunked)
    assert (result["succeeded"], result["failed"]) == (9, 1) and len(result["groups"]) >= 3
    assert sorted(watched.recorded) == [f"img-{n:04d}" for n in range(1, 11)], "each image once"

    # Stage totals: the chunks' per-image totals summed into the job's, as one worker counts them.
    expected = {"decode": 10, "thumbnails": 9, "cutouts": 9, "embeddings": 9, "grouping": None, "store": None}
    assert stage_images(bench, chunked) == stage_images(bench, whole) == expected
    job = real.get_job("acme", chunked)
    assert job is not None and all(stage["ms"] > 0 for stage in job.stages.values())
    for name in ("thumbnails", "cutouts", "embeddings"):
        assert job.stages[name]["ms"] == pytest.approx(sum(c.stages[name]["ms"] for c in chunks), abs=0.01)
    # Progress: moved image by image from the chunks' done, never backwards, to the total.
    assert watched.progress == sorted(watched.progress) and watched.progress[-1] == 10
    assert len(watched.progress) >= 10
    assert (job.progress_done, job.progress_total) == (10, 10)


def test_a_job_of_exactly_chunk_images_runs_whole_and_a_duplicate_message_leaves_it_alone(
    bench: Bench, shared_data: Path
) -> None:
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, files(shared_data)[:3])
    assert bench.ledger.claim(job_id, "busy-worker", lease_seconds=600) is not None
    bench.runner(chunk_images=3)(job_id)  # the duplicate finds it leased and small: nothing to help with
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.RUNNING and job.lease_owner == "busy-worker"
    assert bench.ledger.list_chunks(job_id) == []
    bench.ledger.release(job_id, "busy-worker")
    bench.runner(chunk_images=3)(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and bench.ledger.list_chunks(job_id) == []


def test_two_runners_share_one_jobs_chunks_and_the_coordinator_calls_helpers(
    every_bench: Bench, shared_data: Path, tmp_path: Path
) -> None:
    bench = every_bench
    reference = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    bench.runner(chunk_images=0)(reference)
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    queue = HueyDispatcher.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    # Each runner on its own ledger connections, as in two worker processes.
    coordinator_ledger = Watched(ledger_from_url(bench.ledger_url, migrate=False))
    helper_ledger = Watched(ledger_from_url(bench.ledger_url, migrate=False))
    coordinator = bench.runner(ledger=coordinator_ledger, dispatcher=queue, chunk_images=2)  # type: ignore[arg-type]
    helper = bench.runner(ledger=helper_ledger, chunk_images=2)  # type: ignore[arg-type]

    running = threading.Thread(target=coordinator, args=(job_id,))
    running.start()
    wait_for(lambda: queue.depth() >= 4 or None)
    messages = [task.args[0] for task in iter(queue.next_task, None)]
    assert messages == [job_id] * 4, "the job id once more per chunk beyond the coordinator's own"
    for message in messages:  # the first helps until no chunk is left; the others find none
        helper(message)
    running.join(60)
    assert not running.is_alive()

    assert coordinator_ledger.chunks and helper_ledger.chunks, "both runners ran chunks"
    assert sorted(coordinator_ledger.chunks + helper_ledger.chunks) == [0, 1, 2, 3, 4], "each chunk once"
    assert sorted(coordinator_ledger.recorded + helper_ledger.recorded) == [
        f"img-{n:04d}" for n in range(1, 11)
    ]
    assert snapshot(bench, job_id) == snapshot(bench, reference)
    queue.close()
    coordinator_ledger.close()
    helper_ledger.close()


def test_a_dead_coordinators_job_is_finished_by_the_next_claimant_exactly_once(
    every_bench: Bench, shared_data: Path
) -> None:
    bench, real = every_bench, every_bench.ledger
    reference = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    bench.runner(chunk_images=0)(reference)
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data))

    def die(recorded: int) -> None:
        if recorded == 4:  # mid-way through its second chunk
            raise Killed

    bench.ledger = first = Watched(real, die)  # type: ignore[assignment]
    with pytest.raises(Killed):
        bench.runner(chunk_images=3, lease_s=0.5)(job_id)
    bench.ledger = second = Watched(real)  # type: ignore[assignment]
    time.sleep(0.6)  # the job's lease (and the dead chunk's) runs out: no supervisor saw the death
    bench.runner(chunk_images=3, lease_s=0.5)(job_id)
    bench.ledger = real

    assert first.recorded == ["img-0001", "img-0002", "img-0003", "img-0004"]
    assert second.recorded == [f"img-{n:04d}" for n in range(5, 11)], "nothing recorded twice"
    assert second.chunks == [1, 2, 3], "the dead chunk taken over, resumed past its recorded image"
    assert [c.attempts for c in real.list_chunks(job_id)] == [1, 2, 1, 1]
    job = real.get_job("acme", job_id)
    assert job is not None and job.attempts == 2
    assert snapshot(bench, job_id) == snapshot(bench, reference)


def test_cancel_stops_a_chunk_worker_at_its_next_write(sql_bench: Bench, shared_data: Path) -> None:
    bench, real = sql_bench, sql_bench.ledger
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data))
    assert real.claim(job_id, "coordinator", lease_seconds=600) is not None  # busy elsewhere
    real.open_chunks(job_id, "coordinator", 3)

    def cancel(recorded: int) -> None:
        if recorded == 2:
            real.cancel("acme", job_id)

    bench.ledger = helper = Watched(real, cancel)  # type: ignore[assignment]
    started = time.monotonic()
    bench.runner(chunk_images=3)(job_id)  # a helper: the job is leased
    bench.ledger = real

    assert time.monotonic() - started < 30
    assert helper.chunks == [0] and helper.recorded == ["img-0001", "img-0002"], "stopped at once"
    job = real.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.CANCELED
    statuses = [image.status for image in real.list_images("acme", job_id)]
    assert statuses.count(ImageStatus.PENDING) == 8


def test_cancel_stops_the_coordinator_too(sql_bench: Bench, shared_data: Path) -> None:
    bench, real = sql_bench, sql_bench.ledger
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data))

    def cancel(recorded: int) -> None:
        if recorded == 4:
            real.cancel("acme", job_id)

    bench.ledger = coordinator = Watched(real, cancel)  # type: ignore[assignment]
    bench.runner(chunk_images=3, lease_s=0.6)(job_id)
    bench.ledger = real
    assert coordinator.recorded == ["img-0001", "img-0002", "img-0003", "img-0004"]
    job = real.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.CANCELED and job.result is None


def test_a_chunk_tried_too_often_fails_its_unfinished_images_and_the_job_carries_on(
    sql_bench: Bench, shared_data: Path
) -> None:
    bench, real = sql_bench, sql_bench.ledger
    job_id = bench.submit(JobType.GROUP_IMAGES, files(shared_data)[:6])
    assert real.claim(job_id, "first", lease_seconds=600) is not None
    real.open_chunks(job_id, "first", 2)
    for attempt in range(2):  # two workers died on chunk 0 (the supervisor gave it back each time)
        chunk = real.claim_chunk(job_id, f"dead-{attempt}", lease_seconds=600)
        assert chunk is not None and chunk.index == 0
        assert real.release_chunk(job_id, 0, f"dead-{attempt}")
    real.release(job_id, "first")

    bench.runner(chunk_images=2, max_attempts=2)(job_id)
    job = real.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert job.result is not None and (job.result["succeeded"], job.result["failed"]) == (3, 3)
    images = real.list_images("acme", job_id)
    for image in images[:2]:
        assert image.status is ImageStatus.FAILED and image.error is not None
        assert image.error["type"].endswith("too-many-attempts") and image.error["status"] == 500
        assert image.error["imageId"] == image.image_id and image.group_id is None
    assert [image.status.value for image in images[2:]] == ["succeeded", "succeeded", "failed", "succeeded"]
    assert [(c.status, c.attempts) for c in real.list_chunks(job_id)] == [
        (ChunkStatus.DONE, 3),
        (ChunkStatus.DONE, 1),
        (ChunkStatus.DONE, 1),
    ]


def wait_for(probe: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_a_coordinator_waiting_on_a_stuck_chunk_fails_the_job_at_its_time_limit(
    sql_bench: Bench, shared_data: Path
) -> None:
    bench, real = sql_bench, sql_bench.ledger
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, files(shared_data)[:4])
    assert real.claim(job_id, "first", lease_seconds=600) is not None
    real.open_chunks(job_id, "first", 2)
    assert real.claim_chunk(job_id, "stuck-helper", lease_seconds=600) is not None  # alive, never done
    real.release(job_id, "first")

    started = time.monotonic()
    bench.runner(chunk_images=2, time_limit_s=4)(job_id)
    assert time.monotonic() - started < 30
    job = real.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.error is not None, job
    assert job.error["type"].endswith("job-time-limit") and job.error["status"] == 504
    chunks = real.list_chunks(job_id)
    assert [(c.status, c.lease_owner) for c in chunks] == [
        (ChunkStatus.RUNNING, "stuck-helper"),
        (ChunkStatus.DONE, None),
    ], "the coordinator ran the other chunk, then waited"
    with pytest.raises(LeaseLostError):  # the stuck helper's next write: it stops there
        real.heartbeat_chunk(job_id, 0, "stuck-helper", 600)


def test_a_helper_whose_chunk_was_taken_over_goes_on_with_the_next_one(
    sql_bench: Bench, shared_data: Path
) -> None:
    bench, real = sql_bench, sql_bench.ledger
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, files(shared_data)[:6])
    assert real.claim(job_id, "coordinator", lease_seconds=600) is not None
    real.open_chunks(job_id, "coordinator", 2)

    def take_over(recorded: int) -> None:
        if recorded == 1:  # its lease lapsed (a long pause) and another worker took the chunk
            assert real.release_chunk(job_id, 0, helper.owner)
            assert real.claim_chunk(job_id, "other", lease_seconds=600) is not None

    bench.ledger = watched = Watched(real, take_over)  # type: ignore[assignment]
    helper = bench.runner(chunk_images=2)
    helper(job_id)
    bench.ledger = real

    assert watched.chunks == [0, 1, 2]
    assert watched.recorded == ["img-0001", "img-0003", "img-0004", "img-0005", "img-0006"]
    chunks = real.list_chunks(job_id)
    assert [(c.status, c.lease_owner) for c in chunks] == [
        (ChunkStatus.RUNNING, "other"),
        (ChunkStatus.DONE, None),
        (ChunkStatus.DONE, None),
    ]


def test_a_retry_under_another_chunk_size_goes_on_in_the_chunks_already_there(
    sql_bench: Bench, shared_data: Path
) -> None:
    bench, real = sql_bench, sql_bench.ledger
    job_id = bench.submit(JobType.REMOVE_BACKGROUND, files(shared_data)[:6])

    def die(recorded: int) -> None:
        if recorded == 1:
            raise Killed

    bench.ledger = Watched(real, die)  # type: ignore[assignment]
    first = bench.runner(chunk_images=2, lease_s=1)
    with pytest.raises(Killed):
        first(job_id)
    real.release(job_id, first.owner)  # its supervisor saw it die; the chunk's lease is left to run out
    bench.ledger = retry = Watched(real)  # type: ignore[assignment]
    bench.runner(chunk_images=0, lease_s=0.5)(job_id)  # redeployed with splitting off
    bench.ledger = real

    assert sorted(retry.chunks) == [0, 1, 2], "the existing chunks, the dead one's once its lease ran out"
    assert sorted(retry.recorded) == ["img-0002", "img-0003", "img-0004", "img-0005", "img-0006"], (
        "none twice"
    )
    job = real.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.progress_done == 6
