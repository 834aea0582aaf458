"""The ``JobLedger`` chunk contract (issue 16, one job on many workers), run on SQLite, PostgreSQL and
DynamoDB: a big job's images split into chunks with leases of their own, claimed lowest first by one
worker each, lost on expiry to the next claimant, and stopped with the job (cancel, failure). Time is a
test clock handed to the ledger, so lease expiry is exact."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from contract_support import TENANT, ManualClock, new_job

from bgremover.ledger import Chunk, ChunkStatus, ImageOutcome, ImageStatus, JobStatus, LeaseLostError
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url

JOB_LEASE_S = 60.0
LEASE_S = 20.0
COORDINATOR = "coordinator"


def running_job(ledger: JobLedger, images: int) -> str:
    """A job of ``images`` images claimed by the coordinator (who may open its chunks)."""
    job_id = new_job(ledger, images)
    assert ledger.claim(job_id, COORDINATOR, JOB_LEASE_S) is not None
    return job_id


def split_job(ledger: JobLedger, images: int, chunk_images: int) -> str:
    job_id = running_job(ledger, images)
    ledger.open_chunks(job_id, COORDINATOR, chunk_images)
    return job_id


def bounds(chunks: list[Chunk]) -> list[tuple[int, int, int]]:
    return [(chunk.index, chunk.start, chunk.stop) for chunk in chunks]


def test_open_splits_the_images_in_order_the_last_chunk_shorter(ledger: JobLedger) -> None:
    job_id = running_job(ledger, 7)
    opened = ledger.open_chunks(job_id, COORDINATOR, 3)
    assert bounds(opened) == [(0, 0, 3), (1, 3, 6), (2, 6, 7)]
    assert all(
        (c.job_id, c.status, c.attempts, c.done, c.lease_owner, c.lease_expires_at, c.stages)
        == (job_id, ChunkStatus.PENDING, 0, 0, None, None, {})
        for c in opened
    )
    assert ledger.list_chunks(job_id) == opened
    even = running_job(ledger, 6)
    assert bounds(ledger.open_chunks(even, COORDINATOR, 3)) == [(0, 0, 3), (1, 3, 6)]


def test_open_is_idempotent_whatever_the_chunk_size_now(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = split_job(ledger, 5, 2)
    taken = ledger.claim_chunk(job_id, "w1", LEASE_S)
    assert taken is not None
    before = ledger.list_chunks(job_id)
    assert ledger.open_chunks(job_id, COORDINATOR, 2) == before
    assert ledger.open_chunks(job_id, COORDINATOR, 4) == before  # the size of the first opener stays
    # A new coordinator (the first one's lease expired) finds the same chunks, the running one untouched.
    clock.advance(JOB_LEASE_S + 1)
    assert ledger.claim(job_id, "coordinator-2", JOB_LEASE_S) is not None
    assert ledger.open_chunks(job_id, "coordinator-2", 50) == before
    ledger.heartbeat_chunk(job_id, taken.index, "w1", LEASE_S)  # its worker carries on


def test_open_needs_the_job_lease(ledger: JobLedger, clock: ManualClock) -> None:
    queued = new_job(ledger, 4)
    with pytest.raises(LeaseLostError):
        ledger.open_chunks(queued, COORDINATOR, 2)
    job_id = running_job(ledger, 4)
    with pytest.raises(LeaseLostError):
        ledger.open_chunks(job_id, "not-the-coordinator", 2)
    ledger.cancel(TENANT, job_id)
    with pytest.raises(LeaseLostError):
        ledger.open_chunks(job_id, COORDINATOR, 2)
    assert ledger.list_chunks(queued) == ledger.list_chunks(job_id) == []  # never split
    with pytest.raises(ValueError):
        ledger.open_chunks(running_job(ledger, 4), COORDINATOR, 0)


def test_chunks_are_claimed_lowest_index_first_each_with_its_own_lease(
    ledger: JobLedger, clock: ManualClock
) -> None:
    job_id = split_job(ledger, 5, 2)
    claimed = [ledger.claim_chunk(job_id, f"w{i}", LEASE_S) for i in range(3)]
    assert [(c.index, c.lease_owner, c.status, c.attempts) for c in claimed if c is not None] == [
        (0, "w0", ChunkStatus.RUNNING, 1),
        (1, "w1", ChunkStatus.RUNNING, 1),
        (2, "w2", ChunkStatus.RUNNING, 1),
    ]
    assert all(
        c is not None and c.lease_expires_at == clock.now + timedelta(seconds=LEASE_S) for c in claimed
    )
    assert ledger.claim_chunk(job_id, "w3", LEASE_S) is None  # every chunk is leased by a live worker
    assert ledger.list_chunks(job_id) == claimed
    job = ledger.get_job_for_worker(job_id)
    assert job is not None and (job.lease_owner, job.attempts) == (COORDINATOR, 1)  # the job's lease is apart


def test_only_a_running_job_gives_chunks(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = split_job(ledger, 4, 2)
    ledger.release(job_id, COORDINATOR)  # queued again: no chunk is handed out until it runs
    assert ledger.claim_chunk(job_id, "w1", LEASE_S) is None
    assert ledger.claim(job_id, COORDINATOR, JOB_LEASE_S) is not None
    assert ledger.claim_chunk(job_id, "w1", LEASE_S) is not None
    ledger.cancel(TENANT, job_id)
    assert ledger.claim_chunk(job_id, "w2", LEASE_S) is None
    assert ledger.claim_chunk(new_job(ledger, 4), "w2", LEASE_S) is None  # never split


def test_exactly_one_of_many_racing_workers_claims_each_chunk(database_url: str, clock: ManualClock) -> None:
    """Eight workers, each with its own engine or client (as on separate machines), race for a job's
    three chunks, then for one whose lease expired: every chunk has exactly one winner."""
    ledgers = [ledger_from_url(database_url, migrate=False, clock=clock) for _ in range(8)]
    ledgers[0].migrate()
    try:
        job_id = split_job(ledgers[0], 6, 2)
        won = race_for_chunks(job_id, ledgers)
        assert sorted(won.values()) == [0, 1, 2]
        chunks = ledgers[0].list_chunks(job_id)
        assert {chunk.lease_owner: chunk.index for chunk in chunks} == won
        assert [chunk.attempts for chunk in chunks] == [1, 1, 1]
        clock.advance(LEASE_S + 1)
        for owner in sorted(won)[:2]:
            ledgers[0].heartbeat_chunk(job_id, won[owner], owner, LEASE_S)  # one lease alone expires
        expired = ({0, 1, 2} - {won[owner] for owner in sorted(won)[:2]}).pop()
        assert list(race_for_chunks(job_id, ledgers).values()) == [expired]
        assert ledgers[0].list_chunks(job_id)[expired].attempts == 2
    finally:
        for ledger in ledgers:
            ledger.close()


def race_for_chunks(job_id: str, ledgers: list[JobLedger]) -> dict[str, int]:
    """Every ledger claims a chunk of ``job_id`` at the same instant; the winners' owners -> index."""
    barrier = threading.Barrier(len(ledgers))
    won: dict[str, int] = {}

    def race(ledger: JobLedger, owner: str) -> None:
        barrier.wait()
        chunk = ledger.claim_chunk(job_id, owner, LEASE_S)
        if chunk is not None:
            won[owner] = chunk.index

    owners = [f"w{i}" for i in range(len(ledgers))]
    threads = [threading.Thread(target=race, args=pair) for pair in zip(ledgers, owners, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_heartbeats_keep_a_chunk_and_report_its_progress(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = split_job(ledger, 4, 2)
    ledger.claim_chunk(job_id, "a", LEASE_S)
    clock.advance(LEASE_S - 1)
    ledger.heartbeat_chunk(job_id, 0, "a", LEASE_S, done=1)
    clock.advance(LEASE_S - 1)  # past the first expiry, inside the renewed one
    chunk = ledger.claim_chunk(job_id, "b", LEASE_S)
    assert chunk is not None and chunk.index == 1
    assert ledger.claim_chunk(job_id, "c", LEASE_S) is None
    first = ledger.list_chunks(job_id)[0]
    assert (first.lease_owner, first.done, first.lease_expires_at) == (
        "a",
        1,
        clock.now + timedelta(seconds=1),
    )
    ledger.heartbeat_chunk(job_id, 0, "a", LEASE_S)  # without done: the last report stays
    assert ledger.list_chunks(job_id)[0].done == 1


def test_an_expired_chunk_is_taken_over_and_its_old_owner_can_write_nothing(
    ledger: JobLedger, clock: ManualClock
) -> None:
    job_id = split_job(ledger, 4, 2)
    ledger.claim_chunk(job_id, "a", LEASE_S)
    ledger.heartbeat_chunk(job_id, 0, "a", LEASE_S, done=1)
    clock.advance(LEASE_S + 1)
    taken = ledger.claim_chunk(job_id, "b", LEASE_S)
    assert taken is not None
    assert (taken.index, taken.lease_owner, taken.attempts, taken.done) == (0, "b", 2, 1)
    outcome = ImageOutcome(status=ImageStatus.SUCCEEDED, width=1, height=1, outputs={"thumbnail": "x"})
    stale_writes = [
        lambda: ledger.heartbeat_chunk(job_id, 0, "a", LEASE_S, done=2),
        lambda: ledger.record_chunk_image(job_id, 0, "a", "img0", outcome),
        lambda: ledger.finish_chunk(job_id, 0, "a", {"decode": {"ms": 1.0}}),
    ]
    for write in stale_writes:
        with pytest.raises(LeaseLostError):
            write()
    assert ledger.release_chunk(job_id, 0, "a") is False
    assert ledger.list_chunks(job_id)[0] == taken
    assert all(image.status is ImageStatus.PENDING for image in ledger.list_images(TENANT, job_id))


def test_a_chunk_writes_its_images_merged_as_record_image_does(ledger: JobLedger) -> None:
    job_id = split_job(ledger, 4, 2)
    ledger.claim_chunk(job_id, "a", LEASE_S)
    ledger.record_chunk_image(
        job_id,
        0,
        "a",
        "img1",
        ImageOutcome(status=ImageStatus.SUCCEEDED, width=4, height=3, outputs={"cutout": "k"}),
    )
    ledger.record_chunk_image(job_id, 0, "a", "img1", ImageOutcome(group_id="g1"))  # the rest stays
    ledger.record_chunk_image(
        job_id, 0, "a", "img0", ImageOutcome(status=ImageStatus.FAILED, error={"title": "bad"})
    )
    ledger.record_chunk_image(job_id, 0, "a", "img0", ImageOutcome())  # nothing to write
    ledger.record_chunk_image(job_id, 0, "a", "no-such-image", ImageOutcome(status=ImageStatus.SUCCEEDED))
    images = {image.image_id: image for image in ledger.list_images(TENANT, job_id)}
    assert (images["img1"].status, images["img1"].width, images["img1"].height) == (
        ImageStatus.SUCCEEDED,
        4,
        3,
    )
    assert (images["img1"].outputs, images["img1"].group_id, images["img1"].error) == (
        {"cutout": "k"},
        "g1",
        None,
    )
    assert (images["img0"].status, images["img0"].error) == (ImageStatus.FAILED, {"title": "bad"})
    ledger.record_chunk_image(job_id, 0, "a", "img0", ImageOutcome(status=ImageStatus.SUCCEEDED))
    assert ledger.get_image(TENANT, job_id, "img0").error is None  # type: ignore[union-attr]
    with pytest.raises(LeaseLostError):  # chunk 1 is nobody's yet
        ledger.record_chunk_image(job_id, 1, "a", "img2", ImageOutcome(status=ImageStatus.SUCCEEDED))
    assert ledger.get_image(TENANT, job_id, "img2").status is ImageStatus.PENDING  # type: ignore[union-attr]


def test_a_finished_chunk_keeps_its_stages_and_is_never_claimed_again(
    ledger: JobLedger, clock: ManualClock
) -> None:
    job_id = split_job(ledger, 5, 3)
    ledger.claim_chunk(job_id, "a", LEASE_S)
    ledger.claim_chunk(job_id, "b", LEASE_S)
    stages = {"decode": {"ms": 12.5, "images": 2}, "cutout": {"ms": 301.25, "images": 2}}
    ledger.finish_chunk(job_id, 1, "b", stages)
    last = ledger.list_chunks(job_id)[1]
    assert (last.status, last.done, last.lease_owner, last.lease_expires_at, last.stages) == (
        ChunkStatus.DONE,
        2,
        None,
        None,
        stages,
    )
    with pytest.raises(LeaseLostError):  # done: no owner any more
        ledger.finish_chunk(job_id, 1, "b", stages)
    assert ledger.release_chunk(job_id, 1, "b") is False
    clock.advance(LEASE_S * 10)
    taken = ledger.claim_chunk(job_id, "c", LEASE_S)
    assert taken is not None and taken.index == 0
    assert ledger.claim_chunk(job_id, "d", LEASE_S) is None


def test_release_gives_a_chunk_back_at_once_to_its_owner_only(ledger: JobLedger) -> None:
    job_id = split_job(ledger, 4, 2)
    ledger.claim_chunk(job_id, "a", LEASE_S)
    assert ledger.release_chunk(job_id, 0, "b") is False
    assert ledger.release_chunk(job_id, 1, "a") is False  # pending: nobody's
    assert ledger.list_chunks(job_id)[0].lease_owner == "a"
    assert ledger.release_chunk(job_id, 0, "a") is True
    released = ledger.list_chunks(job_id)[0]
    assert (released.status, released.lease_owner, released.lease_expires_at, released.attempts) == (
        ChunkStatus.PENDING,
        None,
        None,
        1,
    )
    with pytest.raises(LeaseLostError):
        ledger.heartbeat_chunk(job_id, 0, "a", LEASE_S)
    taken = ledger.claim_chunk(job_id, "b", LEASE_S)  # no lease to wait for
    assert taken is not None and (taken.index, taken.attempts) == (0, 2)


@pytest.mark.parametrize("ending", ["cancel", "fail"])
def test_a_job_that_stops_running_stops_every_chunk_write(ledger: JobLedger, ending: str) -> None:
    job_id = split_job(ledger, 4, 2)
    ledger.claim_chunk(job_id, "a", LEASE_S)
    if ending == "cancel":
        ledger.cancel(TENANT, job_id)
    else:
        ledger.fail_claimed(job_id, COORDINATOR, {"title": "time limit"})
    outcome = ImageOutcome(status=ImageStatus.SUCCEEDED, outputs={"cutout": "k"})
    for write in (
        lambda: ledger.heartbeat_chunk(job_id, 0, "a", LEASE_S),
        lambda: ledger.record_chunk_image(job_id, 0, "a", "img0", outcome),
        lambda: ledger.finish_chunk(job_id, 0, "a", {}),
    ):
        with pytest.raises(LeaseLostError):
            write()
    assert ledger.claim_chunk(job_id, "b", LEASE_S) is None
    assert ledger.get_image(TENANT, job_id, "img0").status is ImageStatus.PENDING  # type: ignore[union-attr]
    job = ledger.get_job_for_worker(job_id)
    assert job is not None and job.status in {JobStatus.CANCELED, JobStatus.FAILED}
    assert ledger.release_chunk(job_id, 0, "a") is True  # handing a chunk back needs no running job
