"""Admission of a submit against the tenant's quotas, before any blob is stored or job written: the
concurrent-job quota (``max_active_jobs`` queued + running, else ``429 too-many-active-jobs``) and the
monthly image quota (images submitted in the current UTC calendar month, else ``402 quota-exhausted``).

Both are ledger queries (one each, on the tenant's index), run only when the limit is set. A submit
that replays an existing job (same ``Idempotency-Key``) creates nothing and is never refused here.

The checks are not atomic with the insert that follows: two submits of one tenant racing each other
can both pass and together exceed a quota by at most one job per concurrent submit. Making it exact
would serialise every tenant's submits on a lock in the database (no tenant row exists to lock), which
costs the submit path more than the bounded overshoot costs; the submit rate limit bounds the race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bgremover.api.problems import ProblemError
from bgremover.ledger.base import JobLedger
from bgremover.observability.metrics import REFUSALS
from bgremover.settings import TenantLimits

ACTIVE_JOBS_RETRY_AFTER_S = 5


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The start of ``now``'s UTC calendar month and of the next one (when the quota resets)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, following


@dataclass(frozen=True, slots=True)
class Admission:
    """What the early check learned, reused once the body's image count is known."""

    limits: TenantLimits
    images_used: int | None  # this month's images so far; None when the tenant has no monthly quota
    replay: bool  # an existing job with this Idempotency-Key: nothing is created, nothing refused


def admit_before_body(
    ledger: JobLedger, tenant: str, limits: TenantLimits, idempotency_key: str | None, now: datetime
) -> Admission:
    """Refuse what can be refused before the upload is read: too many active jobs, or a monthly
    quota already used up. Runs in a worker thread (ledger I/O)."""
    if idempotency_key is not None and ledger.find_idempotent_job(tenant, idempotency_key) is not None:
        return Admission(limits, None, replay=True)
    if limits.max_active_jobs is not None:
        active = ledger.count_active_jobs(tenant)
        if active >= limits.max_active_jobs:
            REFUSALS.labels(reason="active-jobs").inc()
            raise ProblemError(
                429,
                "too-many-active-jobs",
                f"tenant {tenant!r} has {active} queued or running jobs, its limit is "
                f"{limits.max_active_jobs}; submit again when one has finished",
                headers={"Retry-After": str(ACTIVE_JOBS_RETRY_AFTER_S)},
                limit=limits.max_active_jobs,
                active=active,
            )
    used = None
    if limits.monthly_image_quota is not None:
        used = ledger.images_submitted_since(tenant, month_bounds(now)[0])
        check_monthly_quota(tenant, limits.monthly_image_quota, used, 1, now)
    return Admission(limits, used, replay=False)


def admit_images(admission: Admission, tenant: str, count: int, now: datetime) -> None:
    """Refuse a submit whose ``count`` images would take the tenant over its monthly quota."""
    quota = admission.limits.monthly_image_quota
    if admission.replay or quota is None or admission.images_used is None:
        return
    check_monthly_quota(tenant, quota, admission.images_used, count, now)


def check_monthly_quota(tenant: str, quota: int, used: int, count: int, now: datetime) -> None:
    if used + count <= quota:
        return
    resets_at = month_bounds(now)[1]
    REFUSALS.labels(reason="quota").inc()
    raise ProblemError(
        402,
        "quota-exhausted",
        f"tenant {tenant!r} has used {used} of its {quota} images this month; {count} more would exceed "
        f"it; the quota resets at {resets_at.isoformat()}",
        quota=quota,
        used=used,
        requested=count,
        resetsAt=resets_at.isoformat(),
    )
