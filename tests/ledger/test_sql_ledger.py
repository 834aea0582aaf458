"""The ledger's behaviour on SQLite, PostgreSQL and DynamoDB: tenancy, idempotency, leases, stages,
images (``sql_ledger`` tests: the SQL adapter alone)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, select

from bgremover.ledger import (
    IdempotencyConflictError,
    ImageOutcome,
    ImageStatus,
    JobStatus,
    JobType,
    LeaseLostError,
    NewImage,
    NewJob,
)
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.ledger.schema import job_chunks, jobs, metadata
from bgremover.ledger.sql import SqlJobLedger


def new_job(tenant: str = "acme", n_images: int = 2, **kwargs: object) -> NewJob:
    job_id = uuid.uuid4().hex
    images = [
        NewImage(f"img{i}", f"photo{i}.jpg", f"{tenant}/{job_id}/img{i}", "image/jpeg", 100 + i)
        for i in range(n_images)
    ]
    return NewJob(job_id=job_id, tenant_id=tenant, type=JobType.GROUP_IMAGES, images=images, **kwargs)  # type: ignore[arg-type]


def test_migrations_produce_exactly_the_declared_schema(sql_ledger: SqlJobLedger) -> None:
    with sql_ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(ledger: JobLedger) -> None:
    ledger.migrate()
    job, _ = ledger.create_job(new_job())
    assert ledger.get_job("acme", job.job_id) is not None


def test_created_job_is_queued_with_its_images_in_order(ledger: JobLedger) -> None:
    job, created = ledger.create_job(new_job(n_images=3, options={"threshold": 0.3}, request_id="r1"))
    assert created
    assert (job.status, job.progress_done, job.progress_total, job.attempts) == (JobStatus.QUEUED, 0, 3, 0)
    assert job.options == {"threshold": 0.3}
    assert job.request_id == "r1"
    assert job.created_at.tzinfo is not None
    images = ledger.list_images("acme", job.job_id)
    assert [image.image_id for image in images] == ["img0", "img1", "img2"]
    assert all(image.status is ImageStatus.PENDING for image in images)


def test_another_tenants_job_is_absent(ledger: JobLedger) -> None:
    job, _ = ledger.create_job(new_job("acme"))
    assert ledger.get_job("globex", job.job_id) is None
    assert ledger.list_images("globex", job.job_id) == []
    assert ledger.get_image("globex", job.job_id, "img0") is None
    assert ledger.cancel("globex", job.job_id) is None
    assert ledger.get_job("acme", job.job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_idempotency_key_returns_first_job_or_conflicts(ledger: JobLedger) -> None:
    key = uuid.uuid4().hex
    first, created = ledger.create_job(new_job(idempotency_key=key, request_fingerprint="A"))
    again, created_again = ledger.create_job(new_job(idempotency_key=key, request_fingerprint="A"))
    assert created and not created_again
    assert again.job_id == first.job_id
    with pytest.raises(IdempotencyConflictError) as conflict:
        ledger.create_job(new_job(idempotency_key=key, request_fingerprint="B"))
    assert conflict.value.existing_job_id == first.job_id
    other_tenant, created_other = ledger.create_job(
        new_job("globex", idempotency_key=key, request_fingerprint="B")
    )
    assert created_other and other_tenant.job_id != first.job_id


def test_idempotency_key_expires_after_its_window(ledger_url: str) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    ledger = ledger_from_url(ledger_url, clock=lambda: now[0])
    key = uuid.uuid4().hex
    first, _ = ledger.create_job(new_job(idempotency_key=key, request_fingerprint="A"))
    now[0] += timedelta(hours=25)
    second, created = ledger.create_job(new_job(idempotency_key=key, request_fingerprint="B"))
    assert created and second.job_id != first.job_id


def test_only_one_of_many_concurrent_claims_wins(ledger: JobLedger) -> None:
    job, _ = ledger.create_job(new_job())
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def claim(owner: str) -> None:
        barrier.wait()
        if ledger.claim(job.job_id, owner, lease_seconds=30) is not None:
            winners.append(owner)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    stored = ledger.get_job("acme", job.job_id)
    assert stored is not None
    assert (stored.status, stored.lease_owner, stored.attempts) == (JobStatus.RUNNING, winners[0], 1)


def test_expired_lease_is_reclaimed_and_the_old_owner_is_locked_out(ledger_url: str) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    ledger = ledger_from_url(ledger_url, clock=lambda: now[0])
    job, _ = ledger.create_job(new_job())
    assert ledger.claim(job.job_id, "old", lease_seconds=60) is not None
    assert ledger.claim(job.job_id, "new", lease_seconds=60) is None  # lease still live
    now[0] += timedelta(seconds=61)
    assert job.job_id in ledger.reclaimable(queued_before=now[0] - timedelta(minutes=5))
    reclaimed = ledger.claim(job.job_id, "new", lease_seconds=60)
    assert reclaimed is not None and reclaimed.attempts == 2
    with pytest.raises(LeaseLostError):
        ledger.heartbeat(job.job_id, "old", lease_seconds=60)
    with pytest.raises(LeaseLostError):
        ledger.succeed(job.job_id, "old", {"groups": []})
    ledger.heartbeat(job.job_id, "new", lease_seconds=60)


def test_cancel_stops_a_running_worker(ledger: JobLedger) -> None:
    job, _ = ledger.create_job(new_job())
    ledger.claim(job.job_id, "w", lease_seconds=30)
    canceled = ledger.cancel("acme", job.job_id)
    assert canceled is not None and canceled.status is JobStatus.CANCELED
    with pytest.raises(LeaseLostError):
        ledger.set_progress(job.job_id, "w", 1)
    assert ledger.claim(job.job_id, "w2", lease_seconds=30) is None
    assert ledger.cancel("acme", job.job_id).status is JobStatus.CANCELED  # type: ignore[union-attr]


def test_worker_records_stages_images_progress_and_result(ledger: JobLedger) -> None:
    job, _ = ledger.create_job(new_job())
    ledger.claim(job.job_id, "w", lease_seconds=30)
    ledger.start_stage(job.job_id, "w", "decode")
    ledger.finish_stage(job.job_id, "w", "decode", 12.3456, images=2)
    ledger.start_stage(job.job_id, "w", "thumbnails")
    ledger.finish_stage(job.job_id, "w", "thumbnails", 4.0)
    ledger.record_image(job.job_id, "w", "img0", ImageOutcome(width=20, height=10))
    ledger.record_image(
        job.job_id, "w", "img0", ImageOutcome(status=ImageStatus.SUCCEEDED, outputs={"thumbnail": "k"})
    )
    problem = {"type": "about:blank", "title": "Undecodable image", "status": 422}
    ledger.record_image(job.job_id, "w", "img1", ImageOutcome(status=ImageStatus.FAILED, error=problem))
    ledger.set_progress(job.job_id, "w", 2)
    running = ledger.get_job("acme", job.job_id)
    assert running is not None
    assert running.stage == "thumbnails" and running.progress_done == 2
    assert list(running.stages) == ["decode", "thumbnails"]
    assert running.stages["decode"] == {"ms": 12.346, "images": 2}
    ledger.succeed(job.job_id, "w", {"groups": [{"groupId": "g1"}]})
    done = ledger.get_job("acme", job.job_id)
    assert done is not None
    assert (done.status, done.stage, done.lease_owner) == (JobStatus.SUCCEEDED, None, None)
    assert done.result == {"groups": [{"groupId": "g1"}]}
    img0, img1 = ledger.list_images("acme", job.job_id)
    assert (img0.status, img0.width, img0.height, img0.outputs) == (
        ImageStatus.SUCCEEDED,
        20,
        10,
        {"thumbnail": "k"},
    )
    assert (img1.status, img1.error) == (ImageStatus.FAILED, problem)


def test_release_returns_the_job_to_the_queue(ledger: JobLedger) -> None:
    job, _ = ledger.create_job(new_job())
    ledger.claim(job.job_id, "w", lease_seconds=30)
    ledger.release(job.job_id, "w")
    again = ledger.claim(job.job_id, "w2", lease_seconds=30)
    assert again is not None and again.attempts == 2


def test_api_failure_applies_only_to_queued_jobs(ledger: JobLedger) -> None:
    job, _ = ledger.create_job(new_job())
    problem = {"title": "Queue unavailable", "status": 503}
    ledger.fail(job.job_id, problem)
    failed = ledger.get_job("acme", job.job_id)
    assert failed is not None and (failed.status, failed.error) == (JobStatus.FAILED, problem)
    assert ledger.claim(job.job_id, "w", lease_seconds=30) is None


def test_active_counts_and_the_oldest_active_job(ledger: JobLedger) -> None:
    first, _ = ledger.create_job(new_job(tenant=uuid.uuid4().hex))
    second, _ = ledger.create_job(new_job(tenant=uuid.uuid4().hex))
    before = ledger.count_by_status()
    ledger.claim(first.job_id, "w", lease_seconds=30)
    after = ledger.count_by_status()
    assert (after[JobStatus.QUEUED], after[JobStatus.RUNNING]) == (
        before[JobStatus.QUEUED] - 1,
        before[JobStatus.RUNNING] + 1,
    )
    oldest_running, oldest_queued = map(ledger.oldest_created_at, (JobStatus.RUNNING, JobStatus.QUEUED))
    assert oldest_running is not None and oldest_running <= first.created_at  # the database is shared
    assert oldest_queued is not None and oldest_queued <= second.created_at
    ledger.fail_claimed(first.job_id, "w", {"title": "boom"})
    assert ledger.count_by_status()[JobStatus.RUNNING] == before[JobStatus.RUNNING]


def test_sql_counts_final_states_too(sql_ledger: SqlJobLedger) -> None:
    job, _ = sql_ledger.create_job(new_job(tenant=uuid.uuid4().hex))
    before = sql_ledger.count_by_status()
    sql_ledger.claim(job.job_id, "w", lease_seconds=30)
    sql_ledger.fail_claimed(job.job_id, "w", {"title": "boom"})
    assert sql_ledger.count_by_status()[JobStatus.FAILED] == before[JobStatus.FAILED] + 1
    oldest = sql_ledger.oldest_created_at(JobStatus.FAILED)
    assert oldest is not None and oldest <= job.created_at


def test_ping_reaches_the_database(ledger: JobLedger) -> None:
    ledger.ping()


def test_unsupported_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        SqlJobLedger.from_url("mysql://x/y")


def test_a_jobs_chunks_go_with_it(sql_ledger: SqlJobLedger) -> None:
    """The ledger deletes no job today; whoever does (an operator, a future retention purge) leaves no
    orphan chunk rows: the foreign key cascades, on SQLite too (``foreign_keys=ON``)."""
    job, _ = sql_ledger.create_job(new_job(n_images=5))
    sql_ledger.claim(job.job_id, "w", lease_seconds=30)
    assert len(sql_ledger.open_chunks(job.job_id, "w", 2)) == 3
    with sql_ledger.engine.begin() as conn:
        conn.execute(delete(jobs).where(jobs.c.job_id == job.job_id))
        left = select(func.count()).select_from(job_chunks).where(job_chunks.c.job_id == job.job_id)
        assert conn.execute(left).scalar_one() == 0
    assert sql_ledger.list_chunks(job.job_id) == []
