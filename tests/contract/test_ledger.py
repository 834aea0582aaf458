"""The ``JobLedger`` worker-side contract (claims with a lease, lease loss, counted attempts), run on
SQLite, PostgreSQL and DynamoDB. Time is a test clock handed to the ledger, so lease expiry is exact."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from contract_support import ManualClock, new_job

from bgremover.ledger import ImageOutcome, ImageStatus, JobStatus, LeaseLostError
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url

LEASE_S = 30.0


def race_for(job_id: str, ledgers: list[JobLedger]) -> list[str]:
    """Every ledger tries to claim ``job_id`` at the same instant; returns the owners that won."""
    barrier = threading.Barrier(len(ledgers))
    winners: list[str] = []

    def race(ledger: JobLedger, owner: str) -> None:
        barrier.wait()
        if ledger.claim(job_id, owner, LEASE_S) is not None:
            winners.append(owner)

    threads = [threading.Thread(target=race, args=(ledger, f"w{i}")) for i, ledger in enumerate(ledgers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


def test_exactly_one_of_many_racing_workers_claims_a_job(database_url: str, clock: ManualClock) -> None:
    """Eight workers, each with its own engine or client (own connections, as on separate machines), race
    for the same jobs; every job has exactly one winner."""
    ledgers = [ledger_from_url(database_url, migrate=False, clock=clock) for _ in range(8)]
    ledgers[0].migrate()
    try:
        for _ in range(10):
            job_id = new_job(ledgers[0])
            winners = race_for(job_id, ledgers)
            assert len(winners) == 1
            job = ledgers[0].get_job_for_worker(job_id)
            assert job is not None
            assert (job.status, job.attempts, job.lease_owner) == (JobStatus.RUNNING, 1, winners[0])
    finally:
        for ledger in ledgers:
            ledger.close()


def test_a_live_lease_cannot_be_claimed_and_heartbeats_keep_it(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = new_job(ledger)
    assert ledger.claim(job_id, "a", LEASE_S) is not None
    clock.advance(LEASE_S - 1)
    assert ledger.claim(job_id, "b", LEASE_S) is None
    ledger.heartbeat(job_id, "a", LEASE_S)
    clock.advance(LEASE_S - 1)  # past the first expiry, inside the renewed one
    assert ledger.claim(job_id, "b", LEASE_S) is None
    assert ledger.reclaimable(queued_before=clock.now) == []


def test_expired_lease_is_reclaimed_and_the_old_owner_can_write_nothing(
    ledger: JobLedger, clock: ManualClock
) -> None:
    job_id = new_job(ledger)
    ledger.claim(job_id, "a", LEASE_S)
    clock.advance(LEASE_S + 1)
    assert ledger.reclaimable(queued_before=clock.now - timedelta(hours=1)) == [job_id]
    job = ledger.claim(job_id, "b", LEASE_S)
    assert job is not None and job.attempts == 2 and job.lease_owner == "b"
    outcome = ImageOutcome(status=ImageStatus.SUCCEEDED, width=1, height=1, outputs={"thumbnail": "x"})
    stale_writes = [
        lambda: ledger.heartbeat(job_id, "a", LEASE_S),
        lambda: ledger.start_stage(job_id, "a", "decode"),
        lambda: ledger.finish_stage(job_id, "a", "decode", 1.0),
        lambda: ledger.record_image(job_id, "a", "img0", outcome),
        lambda: ledger.set_progress(job_id, "a", 2),
        lambda: ledger.succeed(job_id, "a", {"groups": []}),
        lambda: ledger.fail_claimed(job_id, "a", {"title": "x"}),
        lambda: ledger.release(job_id, "a"),
    ]
    for write in stale_writes:
        with pytest.raises(LeaseLostError):
            write()
    job = ledger.get_job_for_worker(job_id)
    assert job is not None
    assert (job.status, job.stage, job.progress_done, job.stages) == (JobStatus.RUNNING, None, 0, {})
    assert all(image.status is ImageStatus.PENDING for image in ledger.list_images(job.tenant_id, job_id))
    ledger.record_image(job_id, "b", "img0", outcome)
    ledger.succeed(job_id, "b", {"groups": []})
    job = ledger.get_job_for_worker(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.lease_owner is None


def test_cancel_takes_the_lease_away(ledger: JobLedger) -> None:
    job_id = new_job(ledger)
    ledger.claim(job_id, "a", LEASE_S)
    ledger.cancel("t-contract", job_id)
    with pytest.raises(LeaseLostError):
        ledger.heartbeat(job_id, "a", LEASE_S)
    assert ledger.claim(job_id, "b", LEASE_S) is None


def test_final_jobs_are_never_claimed_again(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = new_job(ledger)
    ledger.claim(job_id, "a", LEASE_S)
    ledger.succeed(job_id, "a", {"groups": []})
    clock.advance(LEASE_S * 10)
    assert ledger.claim(job_id, "b", LEASE_S) is None
    assert ledger.reclaimable(queued_before=clock.now) == []


def test_released_job_is_claimable_again_with_its_attempt_counted(ledger: JobLedger) -> None:
    job_id = new_job(ledger)
    ledger.claim(job_id, "a", LEASE_S)
    ledger.release(job_id, "a")
    job = ledger.claim(job_id, "b", LEASE_S)
    assert job is not None and job.attempts == 2


def test_jobs_queued_too_long_are_reclaimable(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = new_job(ledger)
    clock.advance(10)
    assert ledger.reclaimable(queued_before=clock.now - timedelta(seconds=60)) == []
    clock.advance(60)
    assert ledger.reclaimable(queued_before=clock.now - timedelta(seconds=60)) == [job_id]
    ledger.touch_queued(job_id)
    assert ledger.reclaimable(queued_before=clock.now - timedelta(seconds=60)) == []
