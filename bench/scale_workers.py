"""One big job over 1, 2 and 4 worker processes, and how fast a chunked job recovers from a crash, against
one PostgreSQL and one Redis, in one run.

By default: for each pool size a real ``bg-remover worker --workers N`` starts (its models loaded before
the clock starts), ONE group job with cut-outs of ``--images`` fashion_products photos (default 1,000) is
submitted through the API in-process, split into chunks of ``--chunk`` (``BGR_JOB_CHUNK_IMAGES``, default
50), and the clock stops when the ledger says it succeeded: the time to result. Blobs go to a local
folder, so what is measured is the workers, the queue and the ledger. Ratios are against the first pool
size in the same run, and per busy core (the ratio divided by min(workers, cores)): on a machine with C
cores, expect growth up to about C workers, then flat. By default each worker's ONNX Runtime gets the
cores over the workers (``BGR_ORT_THREADS``), so one worker already infers on every core;
``--ort-threads 1`` gives each worker one core, so that the ratio reads per core. The cores the workers
actually got (their CPU seconds over the time to result) are printed too: they are niced, and on a
shared machine other work takes cores from them. The job time limit is
raised for the run (one worker takes about a second a photo here, past the default 900 s).

``--recovery`` instead times how fast a chunked group job resumes after a crash, with the default lease,
reaper and backoff settings, each case ``--repeats`` times (then the medians): (1) a chunk worker (not
the job's coordinator) of a pool of two SIGKILLed mid-chunk, the machine surviving: its consumer
releases the chunk, the coordinator takes it over; (2) the coordinator itself SIGKILLed mid-chunk on a
surviving machine: its consumer retries the job at once; (3) a whole host (one worker, the coordinator)
killed while a second host, started once the chunks exist, runs the job's other chunks: the chunk's
lease expires and a live worker takes it, the job's lease expires and a reaper retries it. For each:
seconds from the kill until the killed chunk (and the job) is claimed again, and the photos that the
killed attempt had recorded that were processed again (resume: expected 0; the photo in flight is not
counted, it was never recorded). With ``--images`` at most ``--chunk`` the job runs whole on one worker
(the path of every small job) and cases (2) and (3) apply to it.

``--batch`` times the earlier figure instead: many small cut-out jobs (``--jobs`` of ``--images`` photos,
default 16 x 4), one job per worker at a time.

    export PYTHONPATH=$PWD/src    # absolute: the worker processes run in a temporary folder
    .venv/bin/python bench/scale_workers.py [--images 1000] [--chunk 50] [--workers 1,2,4] [--ort-threads 1]
    .venv/bin/python bench/scale_workers.py --recovery [--images 200] [--chunk 50] [--repeats 3]
    .venv/bin/python bench/scale_workers.py --batch [--jobs 16] [--images 4] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import redis
from fastapi.testclient import TestClient

from _backends import postgres_database
from _common import SHARED_DATA, model_dir
from bgremover.api import create_app
from bgremover.ledger.base import Chunk, ChunkStatus, ImageStatus, Job, JobStatus
from bgremover.observability.logging import configure_logging
from bgremover.settings import Settings
from bgremover.wiring import Services, build_services

TENANT = "bench"
BG_REMOVER = Path(sys.executable).with_name("bg-remover")
TIME_LIMIT_S = "14400"  # one worker on 1,000 photos outlasts the default 900 s
Pool = subprocess.Popen[bytes]


def start_pool(workers: int, env: dict[str, str], workdir: Path) -> Pool:
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
    return proc


def stop_pool(proc: Pool) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Bench:
    """The API in-process over the bench's backends, and the environment of its worker processes."""

    client: TestClient
    services: Services
    env: dict[str, str]
    workdir: Path
    photos: list[Path]
    chunk_images: int

    def pool(self, workers: int) -> Pool:
        return start_pool(workers, self.env, self.workdir)

    def job(self, job_id: str) -> Job:
        job = self.services.ledger.get_job(TENANT, job_id)
        assert job is not None
        return job

    def chunks(self, job_id: str) -> list[Chunk]:
        return self.services.ledger.list_chunks(job_id)

    def submit_group_job(self, images: int) -> str:
        batch = [self.photos[i % len(self.photos)] for i in range(images)]
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in batch]
        response = self.client.post(
            "/v1/group-images",
            files=files,
            data={"remove_background": "true"},
            headers={"X-Tenant-ID": TENANT},
        )
        response.raise_for_status()
        return str(response.json()["jobId"])

    def wait(
        self, what: str, done: Callable[[], object], timeout: float = 14400, poll: float = 0.05
    ) -> float:
        """Poll until ``done()``; the monotonic time it became true."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(poll)
        return time.monotonic()

    def run_to_end(self, job_id: str, pool: Pool, cpu: dict[int, float]) -> set[str]:
        """Wait for the job to end (polled every 0.25 s), keeping the CPU seconds of the pool's processes
        in ``cpu``; the worker processes seen on its chunks."""
        owners: set[str] = set()
        while not self.job(job_id).status.is_final:
            owners.update(c.lease_owner for c in self.chunks(job_id) if c.lease_owner is not None)
            cpu_seconds(pool, cpu)
            time.sleep(0.25)
        cpu_seconds(pool, cpu)
        return owners

    def wait_succeeded(self, job_id: str) -> Job:
        self.wait("the job to end", lambda: self.job(job_id).status.is_final, poll=0.1)
        job = self.job(job_id)
        assert job.status is JobStatus.SUCCEEDED, job.error
        return job

    def split(self, job: Job) -> bool:
        return job.progress_total > self.chunk_images

    def claims(self, job_id: str, index: int | None) -> int:
        """How often the chunk (or, ``index`` None, the job) was claimed."""
        return self.job(job_id).attempts if index is None else self.chunks(job_id)[index].attempts

    def recorded(self, job_id: str, target: Target) -> int:
        images = self.services.ledger.list_images(TENANT, job_id)[target.start : target.stop]
        return sum(image.status is not ImageStatus.PENDING for image in images)

    def mid_way(self, job_id: str, *, coordinator: bool) -> Target | None:
        """A running chunk (or a job run whole) a quarter or more of whose photos are recorded, not all,
        run by the job's coordinator or not."""
        job = self.job(job_id)
        if job.status is not JobStatus.RUNNING or job.lease_owner is None:
            return None
        if not self.split(job):
            targets = (
                [Target(None, 0, job.progress_total, job.attempts, job.lease_owner)] if coordinator else []
            )
        else:
            targets = [
                Target(chunk.index, chunk.start, chunk.stop, chunk.attempts, chunk.lease_owner)
                for chunk in self.chunks(job_id)
                if chunk.status is ChunkStatus.RUNNING
                and chunk.lease_owner is not None
                and (chunk.lease_owner == job.lease_owner) is coordinator
            ]
        for target in targets:
            size = target.stop - target.start
            if size // 4 <= self.recorded(job_id, target) < size:
                return target
        return None

    def wait_mid_way(self, job_id: str, *, coordinator: bool) -> Target:
        deadline = time.monotonic() + 600
        while (target := self.mid_way(job_id, coordinator=coordinator)) is None:
            if time.monotonic() > deadline or self.job(job_id).status.is_final:
                raise RuntimeError(f"no chunk mid-way run by {'the' if coordinator else 'a non-'}coordinator")
            time.sleep(0.05)
        return target


@dataclass(frozen=True, slots=True)
class Target:
    """What a kill interrupts: a chunk of a split job, or (``index`` None) a job run whole."""

    index: int | None
    start: int
    stop: int
    attempts: int
    owner: str


def cpu_seconds(pool: Pool, seen: dict[int, float]) -> dict[int, float]:
    """The CPU seconds (user + system) of each process of the pool so far, into ``seen`` (a process's last
    reading stays there once it exits)."""
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pool.pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seen[process.pid] = times.user + times.system
    return seen


def busy_seconds(times: Any) -> float:
    """CPU seconds the machine spent on anything but idling, over every core (``psutil.cpu_times()``;
    guest time is already inside user time on Linux)."""
    idle = times.idle + sum(getattr(times, name, 0.0) for name in ("iowait", "guest", "guest_nice"))
    return float(sum(times) - idle)


def owner_pid(lease_owner: str | None) -> int:
    assert lease_owner is not None
    return int(lease_owner.split(":")[1])


def big_job(bench: Bench, sizes: list[int], images: int, chunk: int, repeats: int) -> None:
    cores = os.cpu_count() or 1
    print(
        f"one group job of {images} photos with cut-outs, chunks of {chunk}, on PostgreSQL + Redis", end=", "
    )
    print(f"{cores} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    base: float | None = None
    for workers in sizes:
        proc = bench.pool(workers)
        try:
            times: list[float] = []
            owners: set[str] = set()
            cores_busy = []  # the pool's CPU seconds over the wall time: the cores it got
            machine_busy = []  # the same for the whole machine (the workers and everything else)
            for _ in range(repeats):
                before = cpu_seconds(proc, {})
                machine = psutil.cpu_times()
                started = time.monotonic()
                job_id = bench.submit_group_job(images)
                after = dict(before)
                owners = bench.run_to_end(job_id, proc, after)
                times.append(time.monotonic() - started)
                cores_busy.append((sum(after.values()) - sum(before.values())) / times[-1])
                machine_busy.append((busy_seconds(psutil.cpu_times()) - busy_seconds(machine)) / times[-1])
                bench.wait_succeeded(job_id)
                chunks = bench.chunks(job_id)
        finally:
            stop_pool(proc)
        took = statistics.median(times)
        base = base or took
        speedup = base / took
        print(f"{workers} worker(s): {took:7.1f} s to result ({images / took:5.2f} photos/s), ", end="")
        print(f"{speedup:.2f}x of {sizes[0]}, {speedup / min(workers, cores):.2f}x per busy core", end=", ")
        print(
            f"{len(chunks)} chunks, {sum(c.attempts for c in chunks)} claims by {len(owners)} processes",
            end="",
        )
        runs = f"; runs {' / '.join(f'{t:.1f}' for t in times)} s" if repeats > 1 else ""
        busy = statistics.median(cores_busy)
        print(
            f"{runs}; the workers got {busy:.2f} cores ({images / took / busy:.2f} photos per CPU second)",
            end="",
        )
        print(f" of {statistics.median(machine_busy):.2f} busy (or stolen) on the machine")


@dataclass(frozen=True, slots=True)
class Recovery:
    chunk_s: float | None  # kill -> the killed chunk claimed again (a split job)
    job_s: float | None  # kill -> the job claimed again (its coordinator killed)
    recorded: int  # photos of the killed chunk (or job run whole) recorded before the kill
    redone: int  # of those, processed again

    def __str__(self) -> str:
        times = (("chunk", self.chunk_s), ("job", self.job_s))
        claims = [f"the {what} claimed again after {took:5.2f} s" for what, took in times if took is not None]
        return f"{', '.join(claims)}; {self.redone} of its {self.recorded} recorded photos processed again"


def kill_and_resume(
    bench: Bench, job_id: str, victim: Target, kill: Callable[[], None], images: int, *, coordinator: bool
) -> Recovery:
    """``kill()`` (of the coordinator or not), then time the claims that follow, let the job finish and
    count the photos redone."""
    attempts = bench.job(job_id).attempts
    kill()
    killed = time.monotonic()
    time.sleep(0.1)  # a record the victim had in flight lands (or not) before counting
    recorded = bench.recorded(job_id, victim)
    chunk_back = job_back = None
    while (victim.index is not None and chunk_back is None) or (coordinator and job_back is None):
        now = time.monotonic()
        if (
            victim.index is not None
            and chunk_back is None
            and bench.claims(job_id, victim.index) > victim.attempts
        ):
            chunk_back = now - killed
        if job_back is None and bench.job(job_id).attempts > attempts:
            job_back = now - killed
        if now - killed > 600:
            raise RuntimeError("nothing resumed within 600 s")
        time.sleep(0.05)
    job = bench.wait_succeeded(job_id)
    processed = int(job.stages["decode"]["images"])  # a split job's: summed over its chunks' reports
    return Recovery(chunk_back, job_back, recorded, processed - (images - recorded))


def worker_killed(bench: Bench, images: int, coordinator: bool) -> Recovery:
    pool = bench.pool(2)
    try:
        job_id = bench.submit_group_job(images)
        victim = bench.wait_mid_way(job_id, coordinator=coordinator)
        kill = lambda: os.kill(owner_pid(victim.owner), signal.SIGKILL)  # noqa: E731
        return kill_and_resume(bench, job_id, victim, kill, images, coordinator=coordinator)
    finally:
        stop_pool(pool)


def host_killed(bench: Bench, images: int) -> Recovery:
    """The doomed host (one worker) claims the job and becomes its coordinator; the survivor (one
    worker) starts once the job runs (and its chunks exist) and helps with them."""
    doomed = bench.pool(1)
    survivor: Pool | None = None
    try:
        job_id = bench.submit_group_job(images)

        def started() -> bool:
            job = bench.job(job_id)
            return job.status is JobStatus.RUNNING and (not bench.split(job) or bool(bench.chunks(job_id)))

        bench.wait("the job to start", started, timeout=120)
        survivor = bench.pool(1)
        victim = bench.wait_mid_way(job_id, coordinator=True)

        def kill() -> None:
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()

        return kill_and_resume(bench, job_id, victim, kill, images, coordinator=True)
    finally:
        stop_pool(doomed)
        if survivor is not None:
            stop_pool(survivor)


def recovery(bench: Bench, images: int, repeats: int) -> None:
    lease, reaper, backoff = (
        bench.env.get(f"BGR_{name.upper()}", Settings.model_fields[name].default)
        for name in ("lease_s", "reaper_interval_s", "retry_backoff_s")
    )
    split = images > bench.chunk_images
    how = f"in chunks of {bench.chunk_images}" if split else f"run whole (chunks of {bench.chunk_images})"
    print(f"group jobs of {images} photos with cut-outs {how}; lease {lease} s,", end=" ")
    print(f"reaper every {reaper} s, first backoff {backoff} s; load average {os.getloadavg()[0]:.1f}")
    cases: list[tuple[str, Callable[[], Recovery]]] = [
        ("coordinator SIGKILLed mid-chunk, host survives", lambda: worker_killed(bench, images, True)),
        (
            "whole host SIGKILLed (its coordinator and chunk), another host up",
            lambda: host_killed(bench, images),
        ),
    ]
    if split:
        cases.insert(
            0, ("chunk worker SIGKILLed, host survives", lambda: worker_killed(bench, images, False))
        )
    else:
        labels = ("worker SIGKILLed mid-job, host survives", "whole host SIGKILLed, another host up")
        cases = [(label, run) for label, (_, run) in zip(labels, cases, strict=True)]
    for what, run in cases:
        runs = []
        for _ in range(repeats):
            runs.append(figures := run())
            print(f"  {what}: {figures}")
        medians = [
            f"the {name} claimed again after {statistics.median(times):5.2f} s"
            for name, times in (("chunk", [r.chunk_s for r in runs]), ("job", [r.job_s for r in runs]))
            if None not in times
        ]
        print(f"{what}: median over {repeats}: {', '.join(medians)};", end=" ")
        print(f"photos redone at most {max(r.redone for r in runs)}")


def run_batch(bench: Bench, jobs: int, images: int) -> float:
    """Seconds from the first submit until every job of the batch succeeded."""
    started = time.perf_counter()
    ids = []
    for j in range(jobs):
        batch = [bench.photos[(j * images + i) % len(bench.photos)] for i in range(images)]
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in batch]
        response = bench.client.post("/v1/remove-background", files=files, headers={"X-Tenant-ID": TENANT})
        response.raise_for_status()
        ids.append(response.json()["jobId"])
    for job_id in ids:
        bench.wait_succeeded(job_id)
    return time.perf_counter() - started


def batch(bench: Bench, sizes: list[int], jobs: int, images: int, repeats: int) -> None:
    total = jobs * images
    print(f"{jobs} jobs x {images} images on PostgreSQL + Redis", end=", ")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    rates: dict[int, float] = {}
    for workers in sizes:
        proc = bench.pool(workers)
        try:
            times = [run_batch(bench, jobs, images) for _ in range(repeats)]
        finally:
            stop_pool(proc)
        rates[workers] = rate = total / statistics.median(times)
        print(f"{workers} worker(s): {rate:6.2f} images/s, {rate / images:6.2f} jobs/s", end=", ")
        print(f"{rate / rates[sizes[0]]:.2f}x of {sizes[0]} worker(s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--images", type=int, help="photos per job (default 1000; --recovery 200; --batch 4)")
    parser.add_argument("--chunk", type=int, default=50, help="BGR_JOB_CHUNK_IMAGES")
    parser.add_argument("--jobs", type=int, default=16, help="--batch: jobs per batch")
    parser.add_argument(
        "--ort-threads",
        type=int,
        help="BGR_ORT_THREADS of every worker (default: the cores over the workers)",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="a database of its own")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--recovery", action="store_true", help="time crash recovery instead (see above)")
    mode.add_argument("--batch", action="store_true", help="many small cut-out jobs instead (see above)")
    args = parser.parse_args()
    images = args.images or (200 if args.recovery else 4 if args.batch else 1000)
    sizes = [int(n) for n in args.workers.split(",")]
    configure_logging("bench", level="WARNING")  # the in-process API's request logs would drown the figures
    redis.Redis.from_url(args.redis_url).flushdb()
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as database_url:
        workdir = Path(tmp)
        settings = Settings(
            database_url=database_url,
            queue_url=args.redis_url,
            queue_name=f"bench-{uuid.uuid4().hex[:8]}",  # other runs on the same Redis keep apart
            storage_url=f"file://{workdir / 'blobs'}",
            model_dir=model_dir(),
            max_images_per_request=max(1000, images),
        )
        env = {
            **os.environ,
            "BGR_CONFIG_FILE": str(workdir / "none.toml"),
            "BGR_DATABASE_URL": settings.database_url,
            "BGR_QUEUE_URL": settings.queue_url,
            "BGR_QUEUE_NAME": settings.queue_name,
            "BGR_STORAGE_URL": settings.storage_url,
            "BGR_MODEL_DIR": str(settings.model_dir),
            "BGR_JOB_CHUNK_IMAGES": str(args.chunk),
            "BGR_JOB_TIME_LIMIT_S": TIME_LIMIT_S,
        }
        if args.ort_threads is not None:
            env["BGR_ORT_THREADS"] = str(args.ort_threads)
        services = build_services(settings)
        photos = sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))
        client = TestClient(create_app(services, settings))
        bench = Bench(client, services, env, workdir, photos, args.chunk)
        try:
            if args.recovery:
                recovery(bench, images, args.repeats)
            elif args.batch:
                batch(bench, sizes, args.jobs, images, args.repeats)
            else:
                big_job(bench, sizes, images, args.chunk, args.repeats)
        finally:
            bench.client.close()
            services.close()
    redis.Redis.from_url(args.redis_url).flushdb()


if __name__ == "__main__":
    main()
