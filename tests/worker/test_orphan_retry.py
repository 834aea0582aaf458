"""What a consumer does with the job of a worker that died: the real ledger and queue, opened for the
occasion (SQLite ledger, SQLite Huey)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bgremover.ledger import JobStatus, JobType, NewImage, NewJob
from bgremover.ledger.factory import ledger_from_url
from bgremover.queue.huey_queue import HueyDispatcher
from bgremover.resilience.claims import Claim
from bgremover.settings import Settings
from bgremover.worker.consumer import OrphanRetry


def deaths(outcome: str) -> float:
    return REGISTRY.get_sample_value("bgr_worker_deaths_total", {"outcome": outcome}) or 0.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        job_max_attempts=2,
    )


def test_a_dead_workers_job_is_enqueued_again_and_counted(settings: Settings) -> None:
    ledger = ledger_from_url(settings.database_url)
    image = NewImage("img-0001", "a.jpg", "acme/jobs/j1/img-0001.original", "image/jpeg", 10)
    ledger.create_job(NewJob("j1", "acme", JobType.GROUP_IMAGES, [image]))
    dispatcher = HueyDispatcher.from_url(settings.queue_url)
    retry = OrphanRetry(settings, dispatcher)
    before = {outcome: deaths(outcome) for outcome in ("requeued", "dead", "gone")}

    ledger.claim("j1", "host:11:1", lease_seconds=600)
    retry(Claim(11, "j1", "host:11:1"), -9)
    assert [task.args[0] for task in iter(dispatcher.next_task, None)] == ["j1"]
    ledger.claim("j1", "host:12:1", lease_seconds=600)  # the retry, at once
    retry(Claim(11, "j1", "host:11:1"), -9)  # a stale claim of the first worker: nothing happens
    retry(Claim(12, "j1", "host:12:1"), -11)  # the last attempt dies too
    job = ledger.get_job_for_worker("j1")
    assert job is not None and job.status is JobStatus.FAILED and job.error is not None
    assert job.error["type"].endswith("job-dead")
    assert dispatcher.next_task() is None
    after = {outcome: deaths(outcome) - before[outcome] for outcome in before}
    assert after == {"requeued": 1, "dead": 1, "gone": 1}
    dispatcher.close()
    ledger.close()


def test_a_dead_workers_chunk_is_given_back_and_its_job_left_to_its_coordinator(settings: Settings) -> None:
    ledger = ledger_from_url(settings.database_url)
    images = [
        NewImage(f"img-{n}", "a.jpg", f"acme/jobs/j2/img-{n}.original", "image/jpeg", 10) for n in range(4)
    ]
    ledger.create_job(NewJob("j2", "acme", JobType.GROUP_IMAGES, images))
    dispatcher = HueyDispatcher.from_url(settings.queue_url)
    retry = OrphanRetry(settings, dispatcher)
    before = {outcome: deaths(outcome) for outcome in ("released", "gone")}

    ledger.claim("j2", "coordinator", lease_seconds=600)
    ledger.open_chunks("j2", "coordinator", 2)
    chunk = ledger.claim_chunk("j2", "host:13:1", lease_seconds=600)
    assert chunk is not None and chunk.index == 0
    retry(Claim(13, "j2", "host:13:1", chunk=0), -9)
    assert dispatcher.next_task() is None, "the coordinator takes the chunk within a poll: no message"
    again = ledger.claim_chunk("j2", "coordinator", lease_seconds=600)
    assert again is not None and (again.index, again.attempts) == (0, 2), "claimable at once, attempt counted"
    retry(Claim(13, "j2", "host:13:1", chunk=0), -9)  # stale: the chunk is the coordinator's now
    (first, _) = ledger.list_chunks("j2")
    assert first.lease_owner == "coordinator"
    job = ledger.get_job_for_worker("j2")
    assert job is not None and job.status is JobStatus.RUNNING and job.lease_owner == "coordinator"
    after = {outcome: deaths(outcome) - before[outcome] for outcome in before}
    assert after == {"released": 1, "gone": 1}
    dispatcher.close()
    ledger.close()
