"""Admission of a submit against the tenant's quotas, before any blob is stored or job written: the
concurrent-job quota (``max_active_jobs`` queued + running, else ``429 too-many-active-jobs``) and the
monthly image quota (images submitted in the current UTC calendar month, else ``402 quota-exhausted``).

Both are ledger queries (one each, on the tenant's index), run only when the limit is set. A submit
that replays an existing job (same ``Idempotency-Key``) creates nothing and is never refused here; its
key is looked up only when a quota would refuse it (``create_job`` looks it up again in any case).

The checks are not atomic with the insert that follows: two submits of one tenant racing each other
can both pass and together exceed a quota by at most one job per concurrent submit. Making it exact
would serialise every tenant's submits on a lock in the database (no tenant row exists to lock), which
costs the submit path more than the bounded overshoot costs; the submit rate limit bounds the race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bgremover.api.problems import refusal
from bgremover.ledger.base import JobLedger
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
    images_used: int | None  # this month's images so far; None: no monthly check (no quota, a replay)

    def within_quota(self, count: int) -> bool:
        """Whether ``count`` more images fit the monthly quota (no ledger I/O)."""
        quota = self.limits.monthly_image_quota
        return quota is None or self.images_used is None or self.images_used + count <= quota


def _replays(ledger: JobLedger, tenant: str, idempotency_key: str | None) -> bool:
    """Whether the submit replays an existing job: asked only of a submit about to be refused, so an
    admitted one costs no lookup beside ``create_job``'s own."""
    return idempotency_key is not None and ledger.find_idempotent_job(tenant, idempotency_key) is not None


def admit_before_body(
    ledger: JobLedger, tenant: str, limits: TenantLimits, idempotency_key: str | None, now: datetime
) -> Admission:
    """Refuse what can be refused before the upload is read: too many active jobs, or a monthly
    quota already used up. Runs in a worker thread (ledger I/O)."""
    if limits.max_active_jobs is not None:
        active = ledger.count_active_jobs(tenant)
        if active >= limits.max_active_jobs:
            if _replays(ledger, tenant, idempotency_key):
                return Admission(limits, None)
            raise refusal(
                "active-jobs",
                429,
                "too-many-active-jobs",
                f"tenant {tenant!r} has {active} queued or running jobs, its limit is "
                f"{limits.max_active_jobs}; submit again when one has finished",
                headers={"Retry-After": str(ACTIVE_JOBS_RETRY_AFTER_S)},
                limit=limits.max_active_jobs,
                active=active,
            )
    if limits.monthly_image_quota is None:
        return Admission(limits, None)
    used = ledger.images_submitted_since(tenant, month_bounds(now)[0])
    return admit_images(ledger, Admission(limits, used), tenant, idempotency_key, 1, now)


def admit_images(
    ledger: JobLedger,
    admission: Admission,
    tenant: str,
    idempotency_key: str | None,
    count: int,
    now: datetime,
) -> Admission:
    """Refuse a submit whose ``count`` images would take the tenant over its monthly quota, unless it
    replays an existing job (it creates nothing). May do ledger I/O (the replay lookup) when
    ``admission.within_quota(count)`` is false: call it in a worker thread then."""
    if admission.within_quota(count):
        return admission
    if _replays(ledger, tenant, idempotency_key):
        return Admission(admission.limits, None)
    quota, used = admission.limits.monthly_image_quota, admission.images_used
    assert quota is not None and used is not None  # within_quota is true without them
    resets_at = month_bounds(now)[1]
    raise refusal(
        "quota",
        402,
        "quota-exhausted",
        f"tenant {tenant!r} has used {used} of its {quota} images this month; {count} more would exceed "
        f"it; the quota resets at {resets_at.isoformat()}",
        quota=quota,
        used=used,
        requested=count,
        resetsAt=resets_at.isoformat(),
    )
