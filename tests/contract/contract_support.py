"""Helpers shared by the contract suites."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bgremover.ledger import JobType, NewImage, NewJob
from bgremover.ledger.base import JobLedger

TENANT = "t-contract"


class ManualClock:
    """A settable clock shared by every ledger of a test (stands in for many machines' clocks)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def new_job(ledger: JobLedger, images: int = 2) -> str:
    job_id = uuid.uuid4().hex
    tenant = TENANT
    ledger.create_job(
        NewJob(
            job_id=job_id,
            tenant_id=tenant,
            type=JobType.GROUP_IMAGES,
            images=[
                NewImage(f"img{i}", f"p{i}.jpg", f"{tenant}/{job_id}/img{i}", "image/jpeg", 10)
                for i in range(images)
            ],
        )
    )
    return job_id
