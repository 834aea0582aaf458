"""A worker process SIGKILLed mid-job on a machine that survives: its consumer sees it die and the job
is retried at once, long before its lease would expire. The lease, the reaper's period and the backoff
are set to a minute here, so only the supervisor can explain a recovery within seconds. The retry
resumes: no image the killed attempt recorded is processed again."""

from __future__ import annotations

import os
import signal
import time

import pytest
from cluster import TENANT, Cluster, wait_for

from bgremover.ledger import ImageStatus

pytestmark = pytest.mark.slow
IMAGES_PER_JOB = 6
LEASE_ONLY_IN_A_MINUTE = {"BGR_LEASE_S": "60", "BGR_REAPER_INTERVAL_S": "60", "BGR_RETRY_BACKOFF_S": "60"}


@pytest.mark.parametrize("deployment", ["embedded_cluster", "cluster", "dynamodb_cluster"])
def test_a_killed_workers_job_is_claimed_again_within_seconds(
    deployment: str, request: pytest.FixtureRequest
) -> None:
    cluster: Cluster = request.getfixturevalue(deployment)
    cluster.env.update(LEASE_ONLY_IN_A_MINUTE)
    cluster.start_pool(workers=2)
    jobs = [cluster.submit(IMAGES_PER_JOB) for _ in range(2)]
    victim = wait_for(lambda: cluster.running_mid_job(jobs), 180, "a job in the middle of its images", 0.05)
    os.kill(int(victim.lease_owner.split(":")[1]), signal.SIGKILL)  # type: ignore[union-attr]
    killed_at = time.monotonic()
    images = cluster.services.ledger.list_images(TENANT, victim.job_id)
    recorded = sum(image.status is not ImageStatus.PENDING for image in images)

    wait_for(lambda: cluster.job(victim.job_id).attempts >= 2, 40, "the job to be claimed again", 0.05)
    assert time.monotonic() - killed_at < 40, "resumed by the supervisor, 20 s or more before the lease"
    cluster.wait_all_final(jobs, 240)
    cluster.assert_succeeded_exactly_once(jobs)
    assert cluster.job(victim.job_id).attempts == 2, "one retry, no lease expiry on top of it"
    assert "worker_died_mid_job" in cluster.logs()
    redone = cluster.job(victim.job_id).stages["decode"]["images"] - (IMAGES_PER_JOB - recorded)
    assert redone == 0, f"{recorded} images recorded before the kill, {redone} of them processed again"
