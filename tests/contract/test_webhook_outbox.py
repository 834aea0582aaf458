"""The webhook outbox contract, on SQLite, PostgreSQL and DynamoDB: rows written in the transaction of a
job's final state (and only when it commits), exclusive claims with a lease, and the record of each
attempt. Time is a test clock, so due times and lease expiry are exact."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from contract_support import TENANT, ManualClock, new_job

from bgremover.ledger import LeaseLostError
from bgremover.ledger.base import DeliveryStatus, JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.resilience.reaper import Reaper, RetryPolicy

LEASE_S = 30.0


class NoQueue:
    def enqueue(self, job_id: str, *, timeout: float) -> None:
        raise AssertionError("nothing is enqueued in these tests")


def finished_job(ledger: JobLedger, *, notify: bool = True) -> str:
    job_id = new_job(ledger)
    assert ledger.claim(job_id, "w1", LEASE_S) is not None
    ledger.succeed(job_id, "w1", {"groups": []}, notify=notify)
    return job_id


def test_a_final_state_writes_its_webhook_in_the_same_transaction(
    ledger: JobLedger, clock: ManualClock
) -> None:
    job_id = finished_job(ledger)
    [delivery] = ledger.webhook_deliveries_of(job_id)
    assert (delivery.event, delivery.status, delivery.attempts) == (
        "job.succeeded",
        DeliveryStatus.PENDING,
        0,
    )
    assert delivery.tenant_id == TENANT and delivery.delivery_id.startswith("msg_")
    assert delivery.payload == {
        "type": "job.succeeded",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {
            "jobId": job_id,
            "tenantId": TENANT,
            "status": "succeeded",
            "statusUrl": f"/v1/jobs/{job_id}",
        },
    }
    assert ledger.webhook_delivery(TENANT, job_id) == delivery
    assert ledger.webhook_delivery("another-tenant", job_id) is None
    unannounced = finished_job(ledger, notify=False)  # the tenant wants no webhook for it
    assert ledger.webhook_deliveries_of(unannounced) == []


def test_no_webhook_without_the_final_state(ledger: JobLedger, clock: ManualClock) -> None:
    """A worker that lost its lease writes neither the state nor the webhook (one transaction)."""
    job_id = new_job(ledger)
    assert ledger.claim(job_id, "w1", LEASE_S) is not None
    clock.advance(LEASE_S + 1)
    assert ledger.claim(job_id, "w2", LEASE_S) is not None
    with pytest.raises(LeaseLostError):
        ledger.succeed(job_id, "w1", {}, notify=True)
    with pytest.raises(LeaseLostError):
        ledger.fail_claimed(job_id, "w1", {"title": "x"}, notify=True)
    assert ledger.webhook_deliveries_of(job_id) == []
    ledger.fail_claimed(job_id, "w2", {"title": "x"}, notify=True)
    assert [d.event for d in ledger.webhook_deliveries_of(job_id)] == ["job.failed"]


def test_a_cancel_writes_one_webhook_and_a_repeated_cancel_none(ledger: JobLedger) -> None:
    job_id = new_job(ledger)
    assert ledger.cancel(TENANT, job_id) is not None
    assert ledger.cancel(TENANT, job_id) is not None  # already final: nothing changes
    assert [d.event for d in ledger.webhook_deliveries_of(job_id)] == ["job.canceled"]
    done = finished_job(ledger)
    ledger.cancel(TENANT, done)
    assert [d.event for d in ledger.webhook_deliveries_of(done)] == ["job.succeeded"]


def test_the_reaper_announces_a_dead_job(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = new_job(ledger)
    assert ledger.claim(job_id, "w1", LEASE_S) is not None
    clock.advance(LEASE_S + 1)
    report = Reaper(ledger, NoQueue(), RetryPolicy(max_attempts=1), clock=clock).run_once()  # type: ignore[arg-type]
    assert report.dead == [job_id]
    assert [d.event for d in ledger.webhook_deliveries_of(job_id)] == ["job.failed"]


def test_claims_are_exclusive_until_the_lease_expires(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = finished_job(ledger)
    first = ledger.claim_webhook_delivery("s1", LEASE_S)
    assert first is not None and first.job_id == job_id and first.lease_owner == "s1"
    assert ledger.claim_webhook_delivery("s2", LEASE_S) is None
    clock.advance(LEASE_S + 1)  # s1 died mid-attempt
    second = ledger.claim_webhook_delivery("s2", LEASE_S)
    assert second is not None and second.delivery_id == first.delivery_id
    assert not ledger.record_webhook_attempt(first.delivery_id, "s1", error=None)  # s1's lease is gone
    assert ledger.record_webhook_attempt(second.delivery_id, "s2", error=None)
    [done] = ledger.webhook_deliveries_of(job_id)
    assert (done.status, done.attempts, done.delivered_at, done.lease_owner) == (
        DeliveryStatus.DELIVERED,
        1,
        clock.now,
        None,
    )
    assert ledger.claim_webhook_delivery("s3", LEASE_S) is None


def test_many_racing_senders_take_each_delivery_once(database_url: str, clock: ManualClock) -> None:
    ledgers = [ledger_from_url(database_url, migrate=False, clock=clock) for _ in range(6)]
    ledgers[0].migrate()
    try:
        job_ids = {finished_job(ledgers[0]) for _ in range(12)}
        taken: list[str] = []
        barrier = threading.Barrier(len(ledgers))

        def sender(ledger: JobLedger, owner: str) -> None:
            barrier.wait()
            while (delivery := ledger.claim_webhook_delivery(owner, LEASE_S)) is not None:
                taken.append(delivery.job_id)

        threads = [threading.Thread(target=sender, args=(x, f"s{i}")) for i, x in enumerate(ledgers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(taken) == sorted(job_ids)
    finally:
        for ledger in ledgers:
            ledger.close()


def test_a_failed_attempt_waits_for_its_retry_time_then_gives_up(
    ledger: JobLedger, clock: ManualClock
) -> None:
    job_id = finished_job(ledger)
    delivery = ledger.claim_webhook_delivery("s1", LEASE_S)
    assert delivery is not None
    retry_at = clock.now + timedelta(seconds=60)
    assert ledger.record_webhook_attempt(delivery.delivery_id, "s1", error="HTTP 500", retry_at=retry_at)
    clock.advance(59)
    assert ledger.claim_webhook_delivery("s1", LEASE_S) is None  # not due yet
    clock.advance(1)
    again = ledger.claim_webhook_delivery("s1", LEASE_S)
    assert again is not None and (again.attempts, again.last_error) == (1, "HTTP 500")
    assert ledger.record_webhook_attempt(again.delivery_id, "s1", error="ConnectError: refused")
    [failed] = ledger.webhook_deliveries_of(job_id)
    assert (failed.status, failed.attempts, failed.last_error) == (
        DeliveryStatus.FAILED,
        2,
        "ConnectError: refused",
    )
    clock.advance(10_000)
    assert ledger.claim_webhook_delivery("s1", LEASE_S) is None  # failed is final


def test_a_dropped_delivery_is_gone(ledger: JobLedger) -> None:
    job_id = finished_job(ledger)
    delivery = ledger.claim_webhook_delivery("s1", LEASE_S)
    assert delivery is not None
    assert not ledger.drop_webhook_delivery(delivery.delivery_id, "someone-else")
    assert ledger.drop_webhook_delivery(delivery.delivery_id, "s1")
    assert ledger.webhook_deliveries_of(job_id) == []
    assert ledger.webhook_delivery(TENANT, job_id) is None


def _delivered(ledger: JobLedger, owner: str = "sender") -> str:
    job_id = finished_job(ledger)
    claimed = ledger.claim_webhook_delivery(owner, LEASE_S)
    assert claimed is not None and claimed.job_id == job_id
    assert ledger.record_webhook_attempt(claimed.delivery_id, owner, error=None)
    return job_id


def test_the_reaper_purges_ended_deliveries_after_the_retention(
    ledger: JobLedger, clock: ManualClock
) -> None:
    old_delivered = _delivered(ledger)
    old_failed = finished_job(ledger)
    claimed = ledger.claim_webhook_delivery("sender", LEASE_S)
    assert claimed is not None and claimed.job_id == old_failed
    assert ledger.record_webhook_attempt(claimed.delivery_id, "sender", error="HTTP 500")  # given up
    clock.advance(timedelta(days=31).total_seconds())
    recent = _delivered(ledger)
    clock.advance(-timedelta(days=31).total_seconds())
    old_pending = finished_job(ledger)  # never sent: kept however old it is
    clock.advance(timedelta(days=31).total_seconds())
    reaper = Reaper(
        ledger,
        NoQueue(),  # type: ignore[arg-type]
        RetryPolicy(),
        clock=clock,
        webhook_retention=timedelta(days=30),
    )

    assert reaper.run_once().purged_webhooks == 2
    assert ledger.webhook_deliveries_of(old_delivered) == []
    assert ledger.webhook_deliveries_of(old_failed) == []
    assert [d.status for d in ledger.webhook_deliveries_of(old_pending)] == [DeliveryStatus.PENDING]
    assert [d.status for d in ledger.webhook_deliveries_of(recent)] == [DeliveryStatus.DELIVERED]
    assert reaper.run_once().purged_webhooks == 0


def test_a_purge_deletes_at_most_its_limit(ledger: JobLedger, clock: ManualClock) -> None:
    jobs = [_delivered(ledger) for _ in range(3)]
    clock.advance(60)
    assert ledger.purge_webhook_deliveries(clock(), limit=2) == 2
    assert sum(len(ledger.webhook_deliveries_of(job_id)) for job_id in jobs) == 1
    assert ledger.purge_webhook_deliveries(clock(), limit=2) == 1
