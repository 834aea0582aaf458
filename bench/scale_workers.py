"""Throughput of 1, 2 and 4 worker processes against one PostgreSQL and one Redis, in one run.

For each pool size a real ``bg-remover worker --workers N`` starts (its models loaded before the clock
starts), the same batch of cut-out jobs (fashion_products photos) is submitted through the API
in-process, and the clock stops when the ledger says every job succeeded. Blobs go to a local folder,
so what is measured is the workers, the queue and the ledger. Ratios are against 1 worker in the same
run; on a machine with C cores, expect growth up to about C workers, then flat.

``--recovery`` instead times how fast a group job resumes after a crash, with the default lease,
reaper and backoff settings: (1) one worker process of a pool of two SIGKILLed mid-job, the machine
surviving (its consumer hands the job on); (2) a whole pool killed (a vanished host) while a second
pool, another "host", waits idle (the lease expires, a reaper retries). For each: seconds from the
kill until the job is claimed again, and the images processed again that the killed attempt had
already recorded (resume: expected 0).

    .venv/bin/python bench/scale_workers.py [--workers 1,2,4] [--jobs 16] [--images 4] [--repeats 1]
    PYTHONPATH=$PWD/src .venv/bin/python bench/scale_workers.py --recovery [--images 12] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from _backends import postgres_database
from _common import SHARED_DATA, model_dir
from bgremover.api import create_app
from bgremover.ledger.base import ImageStatus, JobStatus
from bgremover.observability.logging import configure_logging
from bgremover.settings import Settings
from bgremover.wiring import Services, build_services

TENANT = "bench"
BG_REMOVER = Path(sys.executable).with_name("bg-remover")
Pool = subprocess.Popen[bytes]


def start_pool(workers: int, env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / f"workers-{workers}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BG_REMOVER), "worker", "--workers", str(workers)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    while log.read_text(errors="replace").count("worker_started") < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return proc, log


def stop_pool(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_batch(client: TestClient, services: Services, photos: list[Path], jobs: int, images: int) -> float:
    """Seconds from the first submit until every job of the batch succeeded."""
    started = time.perf_counter()
    ids = []
    for j in range(jobs):
        batch = [photos[(j * images + i) % len(photos)] for i in range(images)]
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in batch]
        response = client.post("/v1/remove-background", files=files, headers={"X-Tenant-ID": TENANT})
        response.raise_for_status()
        ids.append(response.json()["jobId"])
    pending = set(ids)
    while pending:
        for job_id in list(pending):
            job = services.ledger.get_job(TENANT, job_id)
            assert job is not None
            if job.status.is_final:
                assert job.status is JobStatus.SUCCEEDED, job.error
                pending.discard(job_id)
        time.sleep(0.05)
    return time.perf_counter() - started


def submit_group_job(client: TestClient, photos: list[Path], images: int) -> str:
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos[:images]]
    response = client.post(
        "/v1/group-images", files=files, data={"remove_background": "true"}, headers={"X-Tenant-ID": TENANT}
    )
    response.raise_for_status()
    return str(response.json()["jobId"])


def wait_job(services: Services, job_id: str, done: object, timeout: float = 600) -> float:
    """Poll the ledger every 50 ms until ``done(job)``; the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while True:
        job = services.ledger.get_job(TENANT, job_id)
        assert job is not None
        if done(job):  # type: ignore[operator]
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} stuck: {job.status} {job.error}")
        time.sleep(0.05)


def crash_and_resume(
    client: TestClient, services: Services, photos: list[Path], images: int, kill: object
) -> tuple[float, int, int]:
    """Submit, wait until the job is mid-way, ``kill(owner_pid)``; (seconds to the new claim, images
    recorded before the kill, of those processed again)."""
    job_id = submit_group_job(client, photos, images)
    wait_job(services, job_id, lambda j: j.status is JobStatus.RUNNING and j.progress_done >= images // 3)
    job = services.ledger.get_job(TENANT, job_id)
    assert job is not None and job.lease_owner is not None
    kill(int(job.lease_owner.split(":")[1]))  # type: ignore[operator]
    killed = time.monotonic()
    recorded = sum(i.status is not ImageStatus.PENDING for i in services.ledger.list_images(TENANT, job_id))
    resumed = wait_job(services, job_id, lambda j: j.attempts >= 2 and j.status is JobStatus.RUNNING)
    wait_job(services, job_id, lambda j: j.status.is_final)
    final = services.ledger.get_job(TENANT, job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED, final.error
    redone = final.stages["decode"]["images"] - (images - recorded)
    return resumed - killed, recorded, redone


def recovery(args: argparse.Namespace, client: TestClient, services: Services, env: dict[str, str]) -> None:
    workdir = Path(env["BGR_CONFIG_FILE"]).parent
    photos = sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))
    lease, reaper, backoff = (
        env.get(f"BGR_{name.upper()}", Settings.model_fields[name].default)
        for name in ("lease_s", "reaper_interval_s", "retry_backoff_s")
    )
    print(f"group jobs of {args.images} photos with cut-outs; lease {lease} s,", end=" ")
    print(f"reaper every {reaper} s, first backoff {backoff} s")
    for _ in range(args.repeats):
        pool, _ = start_pool(2, env, workdir)
        try:
            kill_worker = lambda pid: os.kill(pid, signal.SIGKILL)  # noqa: E731
            figures = crash_and_resume(client, services, photos, args.images, kill_worker)
        finally:
            stop_pool(pool)
        report("worker process SIGKILLed, host survives", figures)
    for _ in range(args.repeats):
        doomed, _ = start_pool(1, env, workdir)
        survivor, _ = start_pool(1, env, workdir)
        os.killpg(survivor.pid, signal.SIGSTOP)  # the job must start on the doomed host

        def kill_host(pid: int, doomed: Pool = doomed, survivor: Pool = survivor) -> None:
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
            os.killpg(survivor.pid, signal.SIGCONT)

        try:
            figures = crash_and_resume(client, services, photos, args.images, kill_host)
        finally:
            stop_pool(survivor)
        report("whole host SIGKILLed, another host up", figures)


def report(what: str, figures: tuple[float, int, int]) -> None:
    took, recorded, redone = figures
    print(f"{what}: claimed again after {took:5.2f} s, {recorded} images recorded before the kill,", end=" ")
    print(f"{redone} of them processed again")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="a database of its own")
    parser.add_argument("--recovery", action="store_true", help="time crash recovery instead (see above)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.workers.split(",")]
    configure_logging("bench", level="WARNING")  # the in-process API's request logs would drown the figures
    photos = sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))
    redis.Redis.from_url(args.redis_url).flushdb()
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as database_url:
        workdir = Path(tmp)
        settings = Settings(
            database_url=database_url,
            queue_url=args.redis_url,
            queue_name=f"bench-{uuid.uuid4().hex[:8]}",  # other runs on the same Redis keep apart
            storage_url=f"file://{workdir / 'blobs'}",
            model_dir=model_dir(),
        )
        env = {
            **os.environ,
            "BGR_CONFIG_FILE": str(workdir / "none.toml"),
            "BGR_DATABASE_URL": settings.database_url,
            "BGR_QUEUE_URL": settings.queue_url,
            "BGR_QUEUE_NAME": settings.queue_name,
            "BGR_STORAGE_URL": settings.storage_url,
            "BGR_MODEL_DIR": str(settings.model_dir),
        }
        services = build_services(settings)
        client = TestClient(create_app(services, settings))
        if args.recovery:
            recovery(args, client, services, env)
            client.close()
            services.close()
            return
        total = args.jobs * args.images
        print(f"{args.jobs} jobs x {args.images} images on PostgreSQL + Redis", end=", ")
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
        rates: dict[int, float] = {}
        for workers in sizes:
            proc, _ = start_pool(workers, env, workdir)
            try:
                times = [
                    run_batch(client, services, photos, args.jobs, args.images) for _ in range(args.repeats)
                ]
            finally:
                stop_pool(proc)
            rates[workers] = rate = total / statistics.median(times)
            print(f"{workers} worker(s): {rate:6.2f} images/s, {rate / args.images:6.2f} jobs/s", end=", ")
            print(f"{rate / rates[sizes[0]]:.2f}x of {sizes[0]} worker(s)")
        client.close()
        services.close()
    redis.Redis.from_url(args.redis_url).flushdb()


if __name__ == "__main__":
    main()
