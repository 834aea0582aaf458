"""How many jobs per second the ledger alone can hand out and record, SQLite vs PostgreSQL.

Each simulated worker process runs the ledger side of a job's life, with no image work: claim (one
conditional UPDATE), start and finish three stages, record every image's outcome, set progress,
heartbeat, succeed: ``4 + 2 * stages + 2 * images`` writes per job. This is the ceiling that the
database puts on the whole cluster's job rate, whatever the number of worker machines.

    .venv/bin/python bench/ledger_rate.py [--jobs 200] [--images 4] [--procs 1,4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from _backends import postgres_database
from bgremover.ledger import ImageOutcome, ImageStatus, JobType, NewImage, NewJob
from bgremover.ledger.sql import SqlJobLedger

STAGES = ("decode", "cutout", "store")


def writes_per_job(images: int) -> int:
    return 4 + 2 * len(STAGES) + 2 * images


def seed(url: str, jobs: int, images: int) -> list[str]:
    ledger = SqlJobLedger.from_url(url)
    ids = []
    for _ in range(jobs):
        job_id = uuid.uuid4().hex
        ledger.create_job(
            NewJob(
                job_id=job_id,
                tenant_id="bench",
                type=JobType.REMOVE_BACKGROUND,
                images=[
                    NewImage(f"img{i}", f"{i}.jpg", f"bench/{job_id}/{i}", "image/jpeg", 1)
                    for i in range(images)
                ],
            )
        )
        ids.append(job_id)
    ledger.close()
    return ids


def work(url: str, job_ids: list[str], images: int, owner: str) -> int:
    """Claims every job it can from the shared list (others race for the same ids); returns how many."""
    ledger = SqlJobLedger.from_url(url, migrate=False)
    done = 0
    outcome = ImageOutcome(status=ImageStatus.SUCCEEDED, width=1, height=1, outputs={"cutout": "k"})
    for job_id in job_ids:
        if ledger.claim(job_id, owner, 60) is None:
            continue
        for stage in STAGES:
            ledger.start_stage(job_id, owner, stage)
            ledger.finish_stage(job_id, owner, stage, 1.0)
        for i in range(images):
            ledger.record_image(job_id, owner, f"img{i}", outcome)
            ledger.set_progress(job_id, owner, i + 1)
        ledger.heartbeat(job_id, owner, 60)
        ledger.succeed(job_id, owner, {"images": images})
        done += 1
    ledger.close()
    return done


def run_once(url: str, jobs: int, images: int, procs: int) -> float:
    """Jobs per second with ``procs`` worker processes racing over the same jobs (rotated start)."""
    ids = seed(url, jobs, images)
    ctx = mp.get_context("spawn")
    with ctx.Pool(procs) as pool:
        args = [
            (url, ids[i * jobs // procs :] + ids[: i * jobs // procs], images, f"w{i}") for i in range(procs)
        ]
        pool.apply(time.sleep, (0,))  # warm the pool: interpreter start-up is not the ledger's cost
        started = time.perf_counter()
        finished = sum(pool.starmap(work, args))
        elapsed = time.perf_counter() - started
    assert finished == jobs, f"{finished} of {jobs} jobs finished: a job was lost or run twice"
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--procs", default="1,4")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    procs_list = [int(p) for p in args.procs.split(",")]
    per_job = writes_per_job(args.images)
    print(
        f"ledger alone: {args.jobs} jobs x {args.images} images, {per_job} writes/job, "
        f"median of {args.repeats}"
    )
    results: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as pg_url:
        for backend, url in (("sqlite", f"sqlite:///{Path(tmp) / 'ledger.db'}"), ("postgresql", pg_url)):
            for procs in procs_list:
                rates = [run_once(url, args.jobs, args.images, procs) for _ in range(args.repeats)]
                results[backend, procs] = statistics.median(rates)
                print(
                    f"{backend:>10} {procs} proc: {results[backend, procs]:8.1f} jobs/s"
                    f"  {results[backend, procs] * per_job:9.0f} writes/s"
                )
    for procs in procs_list:
        ratio = results["postgresql", procs] / results["sqlite", procs]
        print(f"postgresql / sqlite at {procs} proc: {ratio:.2f}x")
    for backend in ("sqlite", "postgresql"):
        scale = results[backend, procs_list[-1]] / results[backend, procs_list[0]]
        print(f"{backend}: {procs_list[-1]} procs / {procs_list[0]} proc: {scale:.2f}x")


if __name__ == "__main__":
    main()
