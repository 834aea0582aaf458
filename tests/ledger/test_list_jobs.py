"""``list_jobs`` on every ledger: a tenant's jobs newest first, by ``(created_at, job_id)``, paged with
the last job of the previous page, filtered by status and type. The PostgreSQL database is shared by
the session, so every test has tenants and job ids of its own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bgremover.ledger import JobStatus, JobType, NewImage, NewJob
from bgremover.ledger.base import Job, JobLedger
from bgremover.ledger.factory import ledger_from_url


class Tenant:
    """A tenant of this test alone, whose job ids are its own too (listed without the prefix)."""

    def __init__(self, ledger: JobLedger) -> None:
        self.ledger, self.id = ledger, uuid.uuid4().hex

    def create(self, name: str, kind: JobType = JobType.GROUP_IMAGES) -> str:
        job_id = f"{self.id}-{name}"
        image = NewImage("img-0000", "a.jpg", f"{self.id}/{job_id}/a", "image/jpeg", 1)
        self.ledger.create_job(NewJob(job_id, self.id, kind, [image]))
        return job_id

    def names(self, jobs: list[Job]) -> list[str]:
        assert all(job.tenant_id == self.id for job in jobs)
        return [job.job_id.removeprefix(f"{self.id}-") for job in jobs]


def test_pages_newest_first_with_ties_broken_by_job_id(ledger_url: str) -> None:
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    ledger = ledger_from_url(ledger_url, clock=lambda: now[0])
    acme, globex = Tenant(ledger), Tenant(ledger)
    for name in ("j1", "j3", "j2"):  # three at the same instant
        acme.create(name)
    now[0] += timedelta(seconds=1)
    acme.create("j0")
    globex.create("j9")

    first = ledger.list_jobs(acme.id, limit=2)
    assert acme.names(first) == ["j0", "j3"]
    last = first[-1]
    second = ledger.list_jobs(acme.id, before=(last.created_at, last.job_id), limit=2)
    assert acme.names(second) == ["j2", "j1"]
    last = second[-1]
    assert ledger.list_jobs(acme.id, before=(last.created_at, last.job_id), limit=2) == []
    assert globex.names(ledger.list_jobs(globex.id)) == ["j9"]
    assert ledger.list_jobs(uuid.uuid4().hex) == []


def test_filters_by_status_and_type(ledger_url: str) -> None:
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    ledger = ledger_from_url(ledger_url, clock=lambda: now[0])
    acme = Tenant(ledger)
    ids = []
    for index, kind in enumerate([JobType.GROUP_IMAGES, JobType.REMOVE_BACKGROUND] * 3):
        now[0] += timedelta(seconds=1)
        ids.append(acme.create(f"j{index}", kind=kind))
    assert ledger.claim(ids[4], "w", 60) is not None
    ledger.succeed(ids[4], "w", {"succeeded": 1, "failed": 0, "groups": []})
    ledger.cancel(acme.id, ids[1])

    removals = ledger.list_jobs(acme.id, job_type=JobType.REMOVE_BACKGROUND)
    assert acme.names(removals) == ["j5", "j3", "j1"]
    queued_groupings = ledger.list_jobs(acme.id, status=JobStatus.QUEUED, job_type=JobType.GROUP_IMAGES)
    assert acme.names(queued_groupings) == ["j2", "j0"]
    [done] = ledger.list_jobs(acme.id, status=JobStatus.SUCCEEDED, limit=1)
    assert acme.names([done]) == ["j4"] and done.result == {"succeeded": 1, "failed": 0, "groups": []}
    assert acme.names(ledger.list_jobs(acme.id, status=JobStatus.QUEUED, limit=1)) == ["j5"]
