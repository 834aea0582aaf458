"""A worker killed mid-job on the AWS backends (moto's server): SQS as the queue, SSM as the parameter
store, S3 for blobs, PostgreSQL as the ledger for now. The killed worker's message is neither deleted
nor lost: the reaper re-enqueues the job once its lease expires, the old message comes back after the
queue's visibility timeout, and the ledger's claim makes that duplicate harmless. The job ends
succeeded exactly once, with no orphan blobs."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cluster import Cluster, wait_for

from backends import S3Server
from bgremover.settings import Settings
from conftest import deployment

pytestmark = pytest.mark.slow
IMAGES_PER_JOB = 6
VISIBILITY_S = 10


@pytest.fixture
def aws_cluster(
    tmp_path: Path,
    postgres_url: str,
    s3: S3Server,
    aws_endpoint: str,
    ssm_stage: str,
    model_dir: Path,
    shared_data: Path,
) -> Iterator[Cluster]:
    queue = f"bgr-faults-{ssm_stage}"
    boto3.client("sqs").create_queue(QueueName=queue, Attributes={"VisibilityTimeout": str(VISIBILITY_S)})
    settings = Settings(
        database_url=postgres_url,
        queue_url=f"sqs://{queue}",
        storage_url=f"s3://{s3.create_bucket()}/bgr",
        param_store_url="ssm://",
        stage=ssm_stage,
        model_dir=model_dir,
        enqueue_timeout_s=5.0,
    )
    yield from deployment(settings, tmp_path, model_dir, shared_data)


def test_kill_9_worker_mid_inference_on_sqs_then_the_job_completes_once(aws_cluster: Cluster) -> None:
    aws_cluster.start_pool(workers=1)
    jobs = [aws_cluster.submit(IMAGES_PER_JOB) for _ in range(2)]
    victim = wait_for(
        lambda: aws_cluster.running_mid_job(jobs), 180, "a job in the middle of its images", 0.05
    )
    owner_pid = int(victim.lease_owner.split(":")[1])  # type: ignore[union-attr]
    os.kill(owner_pid, signal.SIGKILL)

    aws_cluster.wait_all_final(jobs, 240)
    aws_cluster.assert_succeeded_exactly_once(jobs)
    assert aws_cluster.job(victim.job_id).attempts >= 2, "the killed attempt was retried"
