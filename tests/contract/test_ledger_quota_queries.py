"""The ledger queries behind the tenant quotas, on SQLite, PostgreSQL and DynamoDB: active jobs, images
submitted since a date (jobs the queue never took excluded), and the idempotent job a submit would
replay."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from contract_support import ManualClock

from backends import SERVER_LEDGER_URLS
from bgremover.ledger import JobType, NewImage, NewJob
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def quota_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[JobLedger, ManualClock]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue(SERVER_LEDGER_URLS[request.param])
    clock = ManualClock()
    ledger = ledger_from_url(url, clock=clock)
    yield ledger, clock
    ledger.close()


def _job(ledger: JobLedger, tenant: str, images: int, key: str | None = None) -> str:
    job_id = uuid.uuid4().hex
    blobs = [NewImage(f"img{i}", f"{i}.png", f"{tenant}/{job_id}/{i}", "image/png", 1) for i in range(images)]
    ledger.create_job(NewJob(job_id, tenant, JobType.GROUP_IMAGES, blobs, idempotency_key=key))
    return job_id


def test_active_jobs_are_the_tenants_queued_and_running(quota_ledger) -> None:
    ledger, _ = quota_ledger
    _queued, running, done, canceled = (_job(ledger, "acme", 1) for _ in range(4))
    _job(ledger, "globex", 1)
    for job_id in (running, done):
        assert ledger.claim(job_id, "w", 60) is not None
    ledger.succeed(done, "w", {})
    ledger.cancel("acme", canceled)
    assert ledger.count_active_jobs("acme") == 2  # queued + running
    assert ledger.count_active_jobs("globex") == 1
    assert ledger.count_active_jobs("nobody") == 0


def test_images_since_a_date_ignore_earlier_jobs_other_tenants_and_jobs_never_taken(quota_ledger) -> None:
    ledger, clock = quota_ledger
    _job(ledger, "acme", 7)  # before ``since``
    clock.advance(3600)
    since = clock.now
    _job(ledger, "acme", 2)
    ran_and_failed = _job(ledger, "acme", 3)
    assert ledger.claim(ran_and_failed, "w", 60) is not None
    ledger.fail_claimed(ran_and_failed, "w", {"type": "x"})  # processed: counts
    never_taken = _job(ledger, "acme", 100)
    ledger.fail(never_taken, {"type": "enqueue-failed"})  # the client was told to submit again
    _job(ledger, "globex", 50)
    assert ledger.images_submitted_since("acme", since) == 5
    assert ledger.images_submitted_since("acme", since - timedelta(hours=2)) == 12
    assert ledger.images_submitted_since("nobody", since) == 0


def test_idempotent_job_is_found_only_for_its_tenant_and_within_the_window(quota_ledger) -> None:
    ledger, clock = quota_ledger
    job_id = _job(ledger, "acme", 1, key="order-1")
    found = ledger.find_idempotent_job("acme", "order-1")
    assert found is not None and found.job_id == job_id
    assert ledger.find_idempotent_job("globex", "order-1") is None
    assert ledger.find_idempotent_job("acme", "order-2") is None
    clock.advance(25 * 3600)
    assert ledger.find_idempotent_job("acme", "order-1") is None
