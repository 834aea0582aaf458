"""Real processes killed and backends restarted mid-job; each test ends with every accepted job
succeeded exactly once and no orphan blobs."""

from __future__ import annotations

import os
import signal
import time

import pytest
from cluster import Cluster, PrivateRedis, wait_for
from sqlalchemy.engine import make_url

from backends import terminate_postgres_connections
from bgremover.ledger.base import JobStatus

pytestmark = pytest.mark.slow
IMAGES_PER_JOB = 6


def test_kill_9_worker_mid_inference_then_the_job_completes_once(cluster: Cluster) -> None:
    cluster.start_pool(workers=1)
    jobs = [cluster.submit(IMAGES_PER_JOB) for _ in range(2)]
    victim = wait_for(lambda: cluster.running_mid_job(jobs), 180, "a job in the middle of its images", 0.05)
    owner_pid = int(victim.lease_owner.split(":")[1])  # type: ignore[union-attr]
    os.kill(owner_pid, signal.SIGKILL)

    cluster.wait_all_final(jobs, 240)
    cluster.assert_succeeded_exactly_once(jobs)
    assert cluster.job(victim.job_id).attempts >= 2, "the killed attempt was retried"


def test_kill_9_worker_mid_job_on_the_dynamodb_ledger_then_the_job_completes_once(
    dynamodb_cluster: Cluster,
) -> None:
    """A dead worker's lease expires in DynamoDB, the reaper (on the index, no scan) retries the job."""
    cluster = dynamodb_cluster
    cluster.start_pool(workers=1)
    jobs = [cluster.submit(IMAGES_PER_JOB) for _ in range(2)]
    victim = wait_for(lambda: cluster.running_mid_job(jobs), 180, "a job in the middle of its images", 0.05)
    os.kill(int(victim.lease_owner.split(":")[1]), signal.SIGKILL)  # type: ignore[union-attr]

    cluster.wait_all_final(jobs, 300)
    cluster.assert_succeeded_exactly_once(jobs)
    assert cluster.job(victim.job_id).attempts >= 2, "the killed attempt was retried"


def test_kill_the_whole_pool_and_start_a_new_one(cluster: Cluster) -> None:
    pool = cluster.start_pool(workers=2)
    jobs = [cluster.submit(IMAGES_PER_JOB) for _ in range(3)]
    wait_for(lambda: cluster.running_mid_job(jobs), 180, "a job in the middle of its images", 0.05)
    pool.kill_all()
    time.sleep(1)
    cluster.start_pool(workers=2)

    cluster.wait_all_final(jobs, 300)
    cluster.assert_succeeded_exactly_once(jobs)


def test_redis_restart_loses_the_queue_but_no_job(cluster: Cluster, private_redis: PrivateRedis) -> None:
    cluster.start_pool(workers=1)
    jobs = [cluster.submit(IMAGES_PER_JOB) for _ in range(3)]
    wait_for(lambda: cluster.running_mid_job(jobs), 180, "a job in the middle of its images", 0.05)
    private_redis.kill()  # every queued message is gone with it: nothing is kept on disk
    time.sleep(2)
    private_redis.start()
    # Only job messages count: the workers' periodic reaper tick is itself a message and may land
    # in the restarted Redis at any moment.
    pending = cluster.services.dispatcher.huey.pending()  # type: ignore[attr-defined]
    assert not [t for t in pending if set(t.args) & set(jobs)], "the restarted Redis lost every job message"
    queued = [j for j in jobs if cluster.job(j).status is JobStatus.QUEUED]
    assert queued, "some accepted jobs had only a queue message, now lost"

    cluster.wait_all_final(jobs, 300)
    cluster.assert_succeeded_exactly_once(jobs)


def test_postgres_connections_cut_repeatedly_mid_job(cluster: Cluster, postgres_url: str) -> None:
    cluster.start_pool(workers=2)
    jobs = [cluster.submit(IMAGES_PER_JOB) for _ in range(3)]
    wait_for(lambda: cluster.running_mid_job(jobs), 180, "a job in the middle of its images", 0.05)
    database = make_url(postgres_url).database
    assert database is not None
    cut = 0
    for _ in range(4):
        cut += terminate_postgres_connections(database)
        time.sleep(1.5)
    assert cut > 0

    cluster.wait_all_final(jobs, 300)
    cluster.assert_succeeded_exactly_once(jobs)
