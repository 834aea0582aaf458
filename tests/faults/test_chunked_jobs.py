"""Big jobs split into chunks over real worker processes (issue 16), and what a crash or a cancel does
to them: a chunk worker SIGKILLed mid-chunk, the whole pool killed, the coordinator killed in the final
step, the job canceled while its chunks run. Chunks of 4 images and jobs of 12 (3 chunks) over two
worker processes, so that each test has chunks running at once on both; every accepted job ends
succeeded exactly once (or canceled), each image once, no orphan blobs."""

from __future__ import annotations

import os
import signal
import time

import pytest
from cluster import TENANT, Cluster, owner_pid, wait_for

from bgremover.blobs.keys import job_prefix
from bgremover.ledger.base import Chunk, ChunkStatus, Job, JobStatus
from bgremover.pipeline.work import GROUPING, STORE

pytestmark = pytest.mark.slow
CHUNK_IMAGES = 4
IMAGES_PER_JOB = 12
CHUNKED = {"BGR_JOB_CHUNK_IMAGES": str(CHUNK_IMAGES)}
LEASE_ONLY_IN_A_MINUTE = {"BGR_LEASE_S": "60", "BGR_REAPER_INTERVAL_S": "60", "BGR_RETRY_BACKOFF_S": "60"}


def chunks_of(cluster: Cluster, job_id: str) -> list[Chunk]:
    return cluster.services.ledger.list_chunks(job_id)


def processed(job: Job) -> int:
    """Images run through the models over every attempt that reported (the chunks' summed stages)."""
    return int(job.stages["decode"]["images"])


def assert_every_chunk_done(cluster: Cluster, job_id: str) -> list[Chunk]:
    chunks = chunks_of(cluster, job_id)
    assert len(chunks) == -(-IMAGES_PER_JOB // CHUNK_IMAGES), "the job was split into chunks"
    assert all(chunk.status is ChunkStatus.DONE for chunk in chunks), chunks
    assert [chunk.done for chunk in chunks] == [chunk.stop - chunk.start for chunk in chunks]
    return chunks


@pytest.mark.parametrize("deployment", ["cluster", "dynamodb_cluster", "embedded_cluster"])
def test_a_chunk_workers_chunk_is_taken_over_within_seconds_when_it_is_killed(
    deployment: str, request: pytest.FixtureRequest
) -> None:
    """Leases of a minute: only the supervisor (the consumer sees its worker die and releases the
    chunk) explains a takeover within seconds. The coordinator carries on: the job is not retried,
    the chunk resumes where the killed worker stopped."""
    cluster: Cluster = request.getfixturevalue(deployment)
    cluster.env.update(CHUNKED, **LEASE_ONLY_IN_A_MINUTE)
    cluster.start_pool(workers=2)
    job_id = cluster.submit(IMAGES_PER_JOB)
    found = wait_for(
        lambda: cluster.chunk_mid_way([job_id], coordinator=False), 240, "a chunk worker mid-chunk", 0.05
    )
    _, victim = found  # type: ignore[misc]
    os.kill(owner_pid(victim.lease_owner), signal.SIGKILL)
    killed_at = time.monotonic()
    time.sleep(0.2)  # a record the victim had in flight lands (or not) before counting
    recorded = cluster.recorded(job_id, victim)

    wait_for(lambda: chunks_of(cluster, job_id)[victim.index].attempts >= 2, 30, "the chunk taken over", 0.05)
    took = time.monotonic() - killed_at
    cluster.wait_all_final([job_id], 240)
    cluster.assert_succeeded_exactly_once([job_id])
    chunks = assert_every_chunk_done(cluster, job_id)
    assert chunks[victim.index].attempts == 2, f"one takeover after {took:.1f} s, no lease expiry on top"
    job = cluster.job(job_id)
    assert job.attempts == 1, "the coordinator was never disturbed"
    redone = processed(job) - (IMAGES_PER_JOB - recorded)
    assert redone == 0, f"{recorded} images of the chunk recorded before the kill, {redone} processed again"


def test_kill_the_whole_pool_mid_chunk_and_start_a_new_one(cluster: Cluster) -> None:
    """A vanished host: the job's and the chunks' leases expire, the reaper retries the job, the new
    coordinator finds the chunks made by the dead one and every chunk resumes."""
    cluster.env.update(CHUNKED)
    pool = cluster.start_pool(workers=2)
    job_id = cluster.submit(IMAGES_PER_JOB)
    wait_for(lambda: cluster.chunk_mid_way([job_id]), 240, "a chunk in the middle of its images", 0.05)
    pool.kill_all()
    time.sleep(1)
    before = chunks_of(cluster, job_id)
    recorded = sum(cluster.recorded(job_id, chunk) for chunk in before)
    cluster.start_pool(workers=2)

    cluster.wait_all_final([job_id], 300)
    cluster.assert_succeeded_exactly_once([job_id])
    chunks = assert_every_chunk_done(cluster, job_id)
    assert [(c.start, c.stop) for c in chunks] == [(c.start, c.stop) for c in before], "chunks made once"
    job = cluster.job(job_id)
    assert job.attempts >= 2, "the dead coordinator's job was retried"
    redone = processed(job) - (IMAGES_PER_JOB - recorded)
    assert redone == 0, f"{recorded} images recorded before the kill, {redone} processed again"


def test_kill_the_coordinator_in_the_final_step(cluster: Cluster) -> None:
    """Every chunk done, the coordinator grouping (or about to: it notices within a poll): killed
    there, the next coordinator runs the final step alone, without processing any image again, and
    stores the groups once. A job that ends before the kill lands is tried again with another."""
    cluster.env.update(CHUNKED)
    cluster.start_pool(workers=2)
    jobs: list[str] = []
    caught: Job | None = None
    while caught is None and len(jobs) < 3:
        jobs.append(job_id := cluster.submit(IMAGES_PER_JOB))
        wait_for(lambda j=job_id: final_step_next(cluster, j), 240, "every chunk done, the job running", 0.01)
        caught = kill_in_final_step(cluster, job_id)
    assert caught is not None, "three jobs ended before their coordinator could be killed"

    cluster.wait_all_final(jobs, 240)
    cluster.assert_succeeded_exactly_once(jobs)
    job = cluster.job(caught.job_id)
    assert job.attempts >= 2, f"killed at stage {caught.stage}, the final step ran again"
    assert processed(job) == IMAGES_PER_JOB, "the final step processed no image again"
    assert_every_chunk_done(cluster, caught.job_id)


def final_step_next(cluster: Cluster, job_id: str) -> bool:
    job = cluster.job(job_id)
    if job.status.is_final:
        return True
    chunks = chunks_of(cluster, job_id)
    return (
        job.status is JobStatus.RUNNING and bool(chunks) and all(c.status is ChunkStatus.DONE for c in chunks)
    )


def kill_in_final_step(cluster: Cluster, job_id: str) -> Job | None:
    """SIGKILL the coordinator once its stage shows the final step (at most 2 s on), or None when the
    job ended first."""
    deadline = time.monotonic() + 2
    while (job := cluster.job(job_id)).status is JobStatus.RUNNING:
        if job.stage in (GROUPING, STORE) or time.monotonic() > deadline:
            try:
                os.kill(owner_pid(job.lease_owner), signal.SIGKILL)
            except ProcessLookupError:
                return None
            return job
        time.sleep(0.005)
    return None


def test_cancel_while_chunks_run_stops_every_chunk_worker(cluster: Cluster) -> None:
    """Canceled mid-chunk: the job stays canceled, no chunk is claimed, heartbeated or finished after
    the cancel and no image recorded (the ledger's guard); the in-flight images' blobs are the last
    writes; the workers are free at once for the next job."""
    cluster.env.update(CHUNKED)
    cluster.start_pool(workers=2)
    job_id = cluster.submit(IMAGES_PER_JOB)
    wait_for(lambda: cluster.chunk_mid_way([job_id]), 240, "a chunk in the middle of its images", 0.05)
    ledger = cluster.services.ledger
    canceled = ledger.cancel(TENANT, job_id)
    assert canceled is not None and canceled.status is JobStatus.CANCELED
    images, chunks = ledger.list_images(TENANT, job_id), chunks_of(cluster, job_id)
    assert any(chunk.status is ChunkStatus.RUNNING for chunk in chunks), "canceled while chunks ran"

    time.sleep(5)  # the image each worker had in flight ends, its record is refused
    blobs = set(cluster.services.blobs.list(job_prefix(TENANT, job_id)))
    time.sleep(3)
    assert set(cluster.services.blobs.list(job_prefix(TENANT, job_id))) == blobs, "a worker still writes"
    assert ledger.list_images(TENANT, job_id) == images, "an image recorded after the cancel"
    assert chunks_of(cluster, job_id) == chunks, "a chunk claimed, renewed or finished after the cancel"
    assert cluster.job(job_id).status is JobStatus.CANCELED

    following = cluster.submit(3)
    cluster.wait_all_final([following], 120)
    assert cluster.job(following).status is JobStatus.SUCCEEDED, cluster.logs()
