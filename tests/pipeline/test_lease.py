"""The job lease: renewed in the background however long one step takes, lost on cancel."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from bgremover.ledger import JobType, LeaseLostError, NewImage, NewJob
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.pipeline.errors import JobTimeLimitError
from bgremover.pipeline.held import HeldChunk, HeldJob
from bgremover.pipeline.lease import Lease


@pytest.fixture(params=["sqlite", "dynamodb"])
def claimed(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[JobLedger, str]:
    sqlite = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = ledger_from_url(sqlite if request.param == "sqlite" else request.getfixturevalue("dynamodb_url"))
    job_id = uuid.uuid4().hex
    image = NewImage("img-0001", "a.jpg", f"t/jobs/{job_id}/images/img-0001/original", "image/jpeg", 1)
    ledger.create_job(NewJob(job_id, "t", JobType.REMOVE_BACKGROUND, [image]))
    assert ledger.claim(job_id, "me", lease_seconds=0.3) is not None
    return ledger, job_id


def test_a_step_longer_than_the_lease_keeps_the_job(claimed: tuple[JobLedger, str]) -> None:
    ledger, job_id = claimed
    with Lease(HeldJob(ledger, job_id, "me"), lease_s=0.3, time_limit_s=60) as lease:
        time.sleep(1.0)  # one slow image: three lease lengths without a checkpoint
        assert ledger.claim(job_id, "other", lease_seconds=0.3) is None
        lease.checkpoint(1)
    job = ledger.get_job("t", job_id)
    assert job is not None and job.lease_owner == "me" and job.progress_done == 1


def test_cancel_is_seen_at_the_next_checkpoint(claimed: tuple[JobLedger, str]) -> None:
    ledger, job_id = claimed
    with Lease(HeldJob(ledger, job_id, "me"), lease_s=0.3, time_limit_s=60) as lease:
        ledger.cancel("t", job_id)
        time.sleep(0.4)  # at least one renewal has run and found the job gone
        with pytest.raises(LeaseLostError):
            lease.checkpoint()


def test_time_limit_is_enforced_at_checkpoints(claimed: tuple[JobLedger, str]) -> None:
    ledger, job_id = claimed
    with Lease(HeldJob(ledger, job_id, "me"), lease_s=30, time_limit_s=0.05) as lease:
        lease.checkpoint()
        time.sleep(0.1)
        with pytest.raises(JobTimeLimitError, match=r"limit of 0\.05 s"):
            lease.checkpoint()


def test_a_chunk_lease_is_renewed_the_same_way_and_carries_its_progress(tmp_path: Path) -> None:
    ledger = ledger_from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    job_id = uuid.uuid4().hex
    images = [
        NewImage(f"img-{n}", "a.jpg", f"t/jobs/{job_id}/images/img-{n}/original", "image/jpeg", 1)
        for n in range(4)
    ]
    ledger.create_job(NewJob(job_id, "t", JobType.GROUP_IMAGES, images))
    assert ledger.claim(job_id, "coordinator", lease_seconds=60) is not None
    ledger.open_chunks(job_id, "coordinator", 2)
    chunk = ledger.claim_chunk(job_id, "me", lease_seconds=0.3)
    assert chunk is not None
    with Lease(HeldChunk(ledger, chunk, "me"), lease_s=0.3, time_limit_s=60) as lease:
        time.sleep(1.0)  # three chunk-lease lengths without a checkpoint
        taken = ledger.claim_chunk(job_id, "other", lease_seconds=0.3)
        assert taken is not None and taken.index == 1, "chunk 0 is still ours: the next one is handed out"
        lease.checkpoint(1)
        ledger.cancel("t", job_id)
        time.sleep(0.4)
        with pytest.raises(LeaseLostError):
            lease.checkpoint()
    first, _ = ledger.list_chunks(job_id)
    assert (first.lease_owner, first.done) == ("me", 1)
    ledger.close()
