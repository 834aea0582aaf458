"""The hard time limit in a real worker: a photo whose processing (decode, full-size compositing and
PNG encoding, all native code) outlasts the limit gets its worker process killed by the watchdog in
the middle of it; the pool replaces the process, its consumer retries the job at once, and after
the last attempt buries it as dead with the history of every lost attempt."""

from __future__ import annotations

import io

import numpy as np
import pytest
from cluster import Cluster
from PIL import Image

from bgremover.ledger.base import JobStatus

pytestmark = pytest.mark.slow


def huge_photo(side: int = 4000) -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (side // 8, side // 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).resize((side, side)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def test_watchdog_kills_an_overlong_job_and_it_ends_dead_with_its_history(cluster: Cluster) -> None:
    cluster.env.update(BGR_JOB_TIME_LIMIT_S="0.4", BGR_JOB_MAX_ATTEMPTS="2", BGR_LEASE_S="2")
    pool = cluster.start_pool(workers=1)
    job_id = cluster.submit_files([("huge.jpg", huge_photo())])

    cluster.wait_all_final([job_id], 240)
    job = cluster.job(job_id)
    assert job.status is JobStatus.FAILED, (job.error, cluster.logs())
    assert job.error is not None and job.error["type"].endswith("job-dead"), job.error
    attempts = job.error["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2]
    pids = {a["worker"].split(":")[1] for a in attempts}
    assert len(pids) == 2, "each attempt ran in a fresh worker process: the killed one was replaced"
    assert "exceeded its job time limit, killed" in cluster.logs()
    assert pool.proc is not None and pool.proc.poll() is None, "the node itself kept running"
