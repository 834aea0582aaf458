"""Throughput of 1, 2 and 4 worker processes against one PostgreSQL and one Redis, in one run.

For each pool size a real ``bg-remover worker --workers N`` starts (its models loaded before the clock
starts), the same batch of cut-out jobs (fashion_products photos) is submitted through the API
in-process, and the clock stops when the ledger says every job succeeded. Blobs go to a local folder,
so what is measured is the workers, the queue and the ledger. Ratios are against 1 worker in the same
run; on a machine with C cores, expect growth up to about C workers, then flat.

    .venv/bin/python bench/scale_workers.py [--workers 1,2,4] [--jobs 16] [--images 4] [--repeats 1]
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
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from _backends import postgres_database
from _common import SHARED_DATA, model_dir
from bgremover.api import create_app
from bgremover.ledger.base import JobStatus
from bgremover.observability.logging import configure_logging
from bgremover.settings import Settings
from bgremover.wiring import Services, build_services

TENANT = "bench"
BG_REMOVER = Path(sys.executable).with_name("bg-remover")


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="a database of its own")
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
            storage_url=f"file://{workdir / 'blobs'}",
            model_dir=model_dir(),
        )
        env = {
            **os.environ,
            "BGR_CONFIG_FILE": str(workdir / "none.toml"),
            "BGR_DATABASE_URL": settings.database_url,
            "BGR_QUEUE_URL": settings.queue_url,
            "BGR_STORAGE_URL": settings.storage_url,
            "BGR_MODEL_DIR": str(settings.model_dir),
        }
        services = build_services(settings)
        client = TestClient(create_app(services, settings))
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
