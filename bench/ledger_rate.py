"""How many jobs per second the ledger alone can hand out and record: SQLite, PostgreSQL, DynamoDB.

Each simulated worker process runs the ledger side of a job's life, with no image work: claim (one
conditional UPDATE), start and finish three stages, record every image's outcome, set progress,
heartbeat, succeed: ``4 + 2 * stages + 2 * images`` writes per job. This is the ceiling that the
database puts on the whole cluster's job rate, whatever the number of worker machines.

DynamoDB runs on moto's server in this process (one request at a time, as in the tests): its figure
says the adapter works under racing workers (every job run exactly once), not how fast AWS is.

    .venv/bin/python bench/ledger_rate.py [--jobs 200] [--images 4] [--procs 1,4] [--repeats 3]
        [--backends sqlite,postgresql,dynamodb]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from _backends import dynamodb_server, postgres_database, unique_name
from bgremover.ledger import ImageOutcome, ImageStatus, JobType, NewImage, NewJob
from bgremover.ledger.factory import ledger_from_url

STAGES = ("decode", "cutout", "store")


def writes_per_job(images: int) -> int:
    return 4 + 2 * len(STAGES) + 2 * images


def seed(url: str, jobs: int, images: int) -> list[str]:
    ledger = ledger_from_url(url)
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
    ledger = ledger_from_url(url, migrate=False)
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


def fresh_url(backend: str, stack: ExitStack, tmp: str) -> str:
    """A fresh database of ``backend`` for one series of runs (moto's server is already running)."""
    if backend == "sqlite":
        return f"sqlite:///{Path(tmp) / unique_name('ledger')}.db"
    if backend == "postgresql":
        return stack.enter_context(postgres_database())
    return f"dynamodb://{unique_name('table')}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--procs", default="1,4")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql,dynamodb")
    args = parser.parse_args()
    backends = args.backends.split(",")
    procs_list = [int(p) for p in args.procs.split(",")]
    per_job = writes_per_job(args.images)
    print(
        f"ledger alone: {args.jobs} jobs x {args.images} images, {per_job} writes/job, "
        f"median of {args.repeats}"
    )
    results: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        if "dynamodb" in backends:
            stack.enter_context(dynamodb_server())  # exports its endpoint to the worker processes
        for backend in backends:
            for procs in procs_list:
                url = fresh_url(backend, stack, tmp)
                rates = [run_once(url, args.jobs, args.images, procs) for _ in range(args.repeats)]
                results[backend, procs] = statistics.median(rates)
                print(
                    f"{backend:>10} {procs} proc: {results[backend, procs]:8.1f} jobs/s"
                    f"  {results[backend, procs] * per_job:9.0f} writes/s"
                )
    for backend in backends[1:]:
        for procs in procs_list:
            ratio = results[backend, procs] / results[backends[0], procs]
            print(f"{backend} / {backends[0]} at {procs} proc: {ratio:.2f}x")
    for backend in backends:
        scale = results[backend, procs_list[-1]] / results[backend, procs_list[0]]
        print(f"{backend}: {procs_list[-1]} procs / {procs_list[0]} proc: {scale:.2f}x")


if __name__ == "__main__":
    main()
