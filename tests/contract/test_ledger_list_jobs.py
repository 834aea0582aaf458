"""``list_jobs``, the tenant's job list behind ``GET /v1/jobs``, on every ledger backend: newest first by
``(created_at, job_id)``, keyset pages that neither skip nor repeat a job, filters, and tenant scope."""

from __future__ import annotations

import uuid

from contract_support import TENANT, ManualClock

from bgremover.ledger import JobLedger, JobStatus, JobType, NewImage, NewJob


def _job(ledger: JobLedger, tenant: str = TENANT, job_type: JobType = JobType.GROUP_IMAGES) -> str:
    job_id = uuid.uuid4().hex
    image = NewImage("img-0001", "a.png", f"{tenant}/{job_id}/a", "image/png", 1)
    ledger.create_job(NewJob(job_id, tenant, job_type, [image]))
    return job_id


def _ids(jobs: list) -> list[str]:
    return [job.job_id for job in jobs]


def test_jobs_are_listed_newest_first_and_only_the_tenants_own(ledger: JobLedger, clock: ManualClock) -> None:
    created = []
    for _ in range(3):
        created.append(_job(ledger))
        _job(ledger, tenant="someone-else")
        clock.advance(1)
    listed = ledger.list_jobs(TENANT)
    assert _ids(listed) == created[::-1]
    assert {job.tenant_id for job in listed} == {TENANT}
    assert ledger.list_jobs("nobody") == []


def test_pages_follow_the_keyset_without_gaps_or_repeats_even_with_equal_timestamps(
    ledger: JobLedger, clock: ManualClock
) -> None:
    """Jobs created in the same instant are ordered by id, so the ``before`` bound splits them exactly."""
    for _ in range(3):
        for _ in range(3):  # three jobs share each timestamp
            _job(ledger)
        clock.advance(1)
    everything = ledger.list_jobs(TENANT, limit=100)
    assert len(everything) == 9
    keys = [(job.created_at, job.job_id) for job in everything]
    assert keys == sorted(keys, reverse=True)

    pages: list[str] = []
    before = None
    while page := ledger.list_jobs(TENANT, before=before, limit=2):
        assert len(page) <= 2
        pages += _ids(page)
        before = (page[-1].created_at, page[-1].job_id)
    assert pages == _ids(everything)


def test_a_new_job_does_not_shift_the_next_page(ledger: JobLedger, clock: ManualClock) -> None:
    old = [_job(ledger) for _ in range(3)]
    clock.advance(1)
    first = ledger.list_jobs(TENANT, limit=2)
    _job(ledger)  # arrives between the two page reads
    rest = ledger.list_jobs(TENANT, before=(first[-1].created_at, first[-1].job_id), limit=2)
    assert sorted(_ids(first) + _ids(rest)) == sorted(old)


def test_status_and_type_filters(ledger: JobLedger, clock: ManualClock) -> None:
    group = _job(ledger)
    clock.advance(1)
    cutout = _job(ledger, job_type=JobType.REMOVE_BACKGROUND)
    clock.advance(1)
    canceled = _job(ledger)
    ledger.cancel(TENANT, canceled)
    assert _ids(ledger.list_jobs(TENANT, status=JobStatus.CANCELED)) == [canceled]
    assert _ids(ledger.list_jobs(TENANT, status=JobStatus.QUEUED)) == [cutout, group]
    assert _ids(ledger.list_jobs(TENANT, job_type=JobType.REMOVE_BACKGROUND)) == [cutout]
    assert _ids(ledger.list_jobs(TENANT, status=JobStatus.QUEUED, job_type=JobType.GROUP_IMAGES)) == [group]
    assert ledger.list_jobs(TENANT, status=JobStatus.SUCCEEDED) == []


def test_listed_jobs_carry_their_stages_like_get_job(ledger: JobLedger, clock: ManualClock) -> None:
    job_id = _job(ledger)
    ledger.claim(job_id, "w", 30)
    ledger.finish_stage(job_id, "w", "decode", 12.5, images=1)
    ledger.finish_stage(job_id, "w", "thumbnails", 3.0)
    [listed] = ledger.list_jobs(TENANT)
    assert listed == ledger.get_job(TENANT, job_id)
    assert list(listed.stages) == ["decode", "thumbnails"]
    assert listed.stages["decode"] == {"ms": 12.5, "images": 1}


def test_a_listed_job_has_its_result_without_the_groups(ledger: JobLedger, clock: ManualClock) -> None:
    """The list is read for summaries: the groups (up to 1,000 image ids, items of their own on
    DynamoDB) stay with ``get_job``; the rest of the result (the counts) is listed."""
    job_id = _job(ledger)
    ledger.claim(job_id, "w", 30)
    group = {"groupId": "group-0001", "imageIds": ["img-0001"], "representativeImageId": "img-0001"}
    ledger.succeed(job_id, "w", {"succeeded": 1, "failed": 0, "groups": [group]})
    [listed] = ledger.list_jobs(TENANT)
    full = ledger.get_job(TENANT, job_id)
    assert full is not None and full.result is not None and full.result["groups"] == [group]
    assert listed.result == {"succeeded": 1, "failed": 0}
    assert listed == full.listed()
