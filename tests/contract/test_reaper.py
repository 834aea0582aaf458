"""Retries, backoff and dead jobs: the reaper on the embedded stack (SQLite ledger, SQLite Huey), on
the distributed one (PostgreSQL ledger, Redis Huey) and with the DynamoDB ledger (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_support import TENANT, ManualClock, new_job

from backends import REDIS_URL, redis_namespace
from bgremover.ledger import JobStatus, LeaseLostError
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.queue.huey_queue import HueyDispatcher, huey_from_url
from bgremover.resilience.reaper import Reaper, RetryPolicy, lost_attempts

LEASE_S = 30.0
POLICY = RetryPolicy(max_attempts=3, backoff_s=10.0, backoff_max_s=25.0, queued_grace_s=60.0)


class Stack:
    def __init__(self, ledger: JobLedger, dispatcher: HueyDispatcher, clock: ManualClock) -> None:
        self.ledger, self.dispatcher, self.clock = ledger, dispatcher, clock
        self.reaper = Reaper(ledger, dispatcher, POLICY, clock=clock)

    def messages(self) -> list[str]:
        ids = []
        while (task := self.dispatcher.next_task()) is not None:
            ids.append(task.args[0])
        return ids

    def status(self, job_id: str) -> JobStatus:
        job = self.ledger.get_job_for_worker(job_id)
        assert job is not None
        return job.status


@pytest.fixture(params=["embedded", "distributed", "dynamodb"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    if request.param == "embedded":
        database_url, queue_url = f"sqlite:///{tmp_path / 'ledger.db'}", f"sqlite:///{tmp_path / 'q.db'}"
    elif request.param == "dynamodb":
        database_url, queue_url = request.getfixturevalue("dynamodb_url"), f"sqlite:///{tmp_path / 'q.db'}"
    else:
        request.getfixturevalue("redis_up")
        database_url, queue_url = request.getfixturevalue("postgres_url"), REDIS_URL
    clock = ManualClock()
    ledger = ledger_from_url(database_url, clock=clock)
    with redis_namespace() as name:
        dispatcher = HueyDispatcher(huey_from_url(queue_url, name=name))
        yield Stack(ledger, dispatcher, clock)
        dispatcher.close()
    ledger.close()


def test_job_whose_queue_message_was_lost_is_enqueued_again_once_per_grace(stack: Stack) -> None:
    job_id = new_job(stack.ledger)
    stack.clock.advance(30)
    assert stack.reaper.run_once().requeued == []
    stack.clock.advance(31)
    assert stack.reaper.run_once().requeued == [job_id]
    assert stack.reaper.run_once().requeued == []
    assert stack.messages() == [job_id]
    stack.clock.advance(61)
    assert stack.reaper.run_once().requeued == [job_id]


def test_lost_attempt_is_retried_after_a_doubling_backoff(stack: Stack) -> None:
    job_id = new_job(stack.ledger)
    stack.ledger.claim(job_id, "w1", LEASE_S)
    stack.clock.advance(LEASE_S + 1)  # w1 died: its lease expired 1 s ago, backoff is 10 s
    report = stack.reaper.run_once()
    assert (report.requeued, report.backing_off) == ([], [job_id])
    job = stack.ledger.get_job_for_worker(job_id)
    assert job is not None and job.status is JobStatus.RUNNING
    assert [(a["attempt"], a["worker"]) for a in lost_attempts(job)] == [(1, "w1")]
    stack.clock.advance(10)
    assert stack.reaper.run_once().requeued == [job_id]
    assert stack.reaper.run_once().requeued == [], "a fresh message is not duplicated at once"
    assert stack.messages() == [job_id]

    job = stack.ledger.claim(job_id, "w2", LEASE_S)
    assert job is not None and job.attempts == 2
    stack.clock.advance(LEASE_S + 11)  # the second backoff is 20 s
    assert stack.reaper.run_once().backing_off == [job_id]
    stack.clock.advance(10)
    assert stack.reaper.run_once().requeued == [job_id]
    stack.ledger.claim(job_id, "w3", LEASE_S)
    stack.ledger.succeed(job_id, "w3", {"groups": []})
    job = stack.ledger.get_job_for_worker(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.error is None


def test_job_is_failed_as_dead_with_its_history_after_max_attempts(stack: Stack) -> None:
    job_id = new_job(stack.ledger)
    for attempt in range(1, POLICY.max_attempts + 1):
        assert stack.ledger.claim(job_id, f"w{attempt}", LEASE_S) is not None
        stack.clock.advance(LEASE_S + POLICY.backoff_max_s + 1)
        report = stack.reaper.run_once()
    assert report.dead == [job_id]
    job = stack.ledger.get_job_for_worker(job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.lease_owner is None
    assert job.error is not None and job.error["type"].endswith("job-dead")
    assert [a["worker"] for a in job.error["attempts"]] == ["w1", "w2", "w3"]
    with pytest.raises(LeaseLostError):
        stack.ledger.succeed(job_id, "w3", {"groups": []})
    assert stack.ledger.claim(job_id, "w4", LEASE_S) is None
    assert stack.reaper.run_once().dead == []


def test_live_leases_and_final_jobs_are_left_alone(stack: Stack) -> None:
    running, done, canceled = new_job(stack.ledger), new_job(stack.ledger), new_job(stack.ledger)
    stack.ledger.claim(running, "w1", LEASE_S)
    stack.ledger.claim(done, "w1", LEASE_S)
    stack.ledger.succeed(done, "w1", {"groups": []})
    stack.ledger.cancel(TENANT, canceled)
    stack.clock.advance(LEASE_S - 1)
    stack.ledger.heartbeat(running, "w1", LEASE_S)
    stack.clock.advance(LEASE_S - 1)
    report = stack.reaper.run_once()
    assert (report.requeued, report.dead, report.backing_off) == ([], [], [])
    assert stack.messages() == []
    assert [stack.status(j) for j in (running, done, canceled)] == [
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
        JobStatus.CANCELED,
    ]


def test_reapers_on_many_nodes_bury_a_job_once(stack: Stack) -> None:
    other = Reaper(stack.ledger, stack.dispatcher, POLICY, clock=stack.clock)
    job_id = new_job(stack.ledger)
    for attempt in range(1, POLICY.max_attempts + 1):
        stack.ledger.claim(job_id, f"w{attempt}", LEASE_S)
        stack.clock.advance(LEASE_S + POLICY.backoff_max_s + 1)
        if attempt < POLICY.max_attempts:
            stack.reaper.run_once()
    assert stack.reaper.run_once().dead + other.run_once().dead == [job_id]


def test_a_dead_workers_job_is_retried_at_once_counting_the_attempt(stack: Stack) -> None:
    """Its supervisor saw the worker die: no waiting for the lease, no backoff."""
    job_id = new_job(stack.ledger)
    stack.ledger.claim(job_id, "w1", LEASE_S)
    assert stack.reaper.retry_now(job_id, "w1").requeued == [job_id]
    assert stack.messages() == [job_id]
    job = stack.ledger.get_job_for_worker(job_id)
    assert job is not None and [(a["attempt"], a["worker"]) for a in lost_attempts(job)] == [(1, "w1")]
    retried = stack.ledger.claim(job_id, "w2", LEASE_S)  # same instant: the lease was ended, not waited out
    assert retried is not None and retried.attempts == 2
    with pytest.raises(LeaseLostError):
        stack.ledger.heartbeat(job_id, "w1", LEASE_S)


def test_retry_now_leaves_finished_canceled_released_and_taken_over_jobs_alone(stack: Stack) -> None:
    done, canceled, released, taken = (new_job(stack.ledger) for _ in range(4))
    for job_id in (done, canceled, released, taken):
        stack.ledger.claim(job_id, "w1", LEASE_S)
    stack.ledger.succeed(done, "w1", {"groups": []})
    stack.ledger.cancel(TENANT, canceled)
    stack.ledger.release(released, "w1")
    stack.clock.advance(LEASE_S + 1)
    stack.ledger.claim(taken, "w2", LEASE_S)  # w1's lease expired and w2 took the job over
    for job_id in (done, canceled, released, taken):
        report = stack.reaper.retry_now(job_id, "w1")
        assert (report.requeued, report.dead) == ([], [])
    assert stack.messages() == []
    assert [stack.status(j) for j in (done, canceled, released, taken)] == [
        JobStatus.SUCCEEDED,
        JobStatus.CANCELED,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
    ]
    stack.ledger.heartbeat(taken, "w2", LEASE_S)  # w2 still holds it


def test_a_dead_workers_last_attempt_fails_the_job_as_dead(stack: Stack) -> None:
    job_id = new_job(stack.ledger)
    for attempt in range(1, POLICY.max_attempts + 1):
        assert stack.ledger.claim(job_id, f"w{attempt}", LEASE_S) is not None
        report = stack.reaper.retry_now(job_id, f"w{attempt}")
    assert (report.requeued, report.dead) == ([], [job_id])
    job = stack.ledger.get_job_for_worker(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert [a["worker"] for a in job.error["attempts"]] == ["w1", "w2", "w3"]  # type: ignore[index]
