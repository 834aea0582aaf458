"""``SqlJobLedger.get_jobs``: the event poller's one read of every followed job, tenants kept apart."""

from __future__ import annotations

import uuid

import pytest

from bgremover.api.job_watch import BatchJobReader
from bgremover.ledger import JobType, NewImage, NewJob
from bgremover.ledger.sql import SqlJobLedger


@pytest.fixture
def ledger(sql_ledger: SqlJobLedger) -> SqlJobLedger:
    """Batch reads are the SQL ledger's own capability (the DynamoDB ledger's poller reads job by job)."""
    return sql_ledger


def _job(ledger: SqlJobLedger, tenant: str) -> str:
    job_id = uuid.uuid4().hex
    image = NewImage("img-0001", "a.png", f"{tenant}/{job_id}/a", "image/png", 1)
    ledger.create_job(NewJob(job_id, tenant, JobType.GROUP_IMAGES, [image]))
    return job_id


def test_many_jobs_of_many_tenants_are_read_at_once_as_get_job_reads_them(ledger: SqlJobLedger) -> None:
    assert isinstance(ledger, BatchJobReader)
    keys = [(tenant, _job(ledger, tenant)) for tenant in ("acme", "globex") for _ in range(3)]
    ledger.claim(keys[0][1], "w", 30)
    ledger.finish_stage(keys[0][1], "w", "decode", 4.0)
    found = ledger.get_jobs(keys)
    assert found == {key: ledger.get_job(*key) for key in keys}
    assert found[keys[0]].stages == {"decode": {"ms": 4.0}}


def test_a_key_naming_another_tenant_or_no_job_finds_nothing(ledger: SqlJobLedger) -> None:
    job_id = _job(ledger, "acme")
    assert ledger.get_jobs([("globex", job_id), ("acme", "nope")]) == {}
    assert ledger.get_jobs([]) == {}
