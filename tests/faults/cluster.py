"""A small distributed deployment of real processes for the fault tests: ``bg-remover worker`` pools
(each a Huey consumer with process workers) on PostgreSQL, a private Redis and S3 (moto), plus the API
in-process, and the checks that every accepted job succeeded exactly once with no orphan blobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bgremover.ledger.base import Chunk, ChunkStatus, ImageStatus, Job, JobStatus
from bgremover.wiring import Services

BG_REMOVER = Path(sys.executable).with_name("bg-remover")
TENANT = "acme"


def owner_pid(lease_owner: str | None) -> int:
    """The process id in a lease owner (``host:pid:start``)."""
    assert lease_owner is not None
    return int(lease_owner.split(":")[1])


def wait_for(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)
    return value


class PrivateRedis:
    """A redis-server of this test's own on a free port, keeping nothing on disk (like this machine's),
    so restarting it loses every queued message and disturbs nobody else."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self._workdir)]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        wait_for(lambda: _answers(client), 10, "redis-server to start")

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@dataclass
class WorkerPool:
    """One ``bg-remover worker`` command (a node), in a process group of its own so that the whole
    node (consumer, workers, watchdog sentinels) can be killed at once."""

    env: dict[str, str]
    workers: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BG_REMOVER), "worker", "--workers", str(self.workers)],
                env=self.env,
                cwd=self.log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill_all(self) -> None:
        """``kill -9`` of the whole node."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class Cluster:
    services: Services
    env: dict[str, str]
    workdir: Path
    submit_files: Callable[[list[tuple[str, bytes]]], str]
    photos: list[Path]
    pools: list[WorkerPool] = field(default_factory=list)

    def submit(self, images: int) -> str:
        """A group-images job with cut-outs of the first ``images`` evaluation photos."""
        return self.submit_files([(p.name, p.read_bytes()) for p in self.photos[:images]])

    def start_pool(self, workers: int = 1) -> WorkerPool:
        pool = WorkerPool(self.env, workers, self.workdir / f"worker-{len(self.pools)}.log")
        pool.start()
        self.pools.append(pool)
        return pool

    def job(self, job_id: str) -> Job:
        job = self.services.ledger.get_job(TENANT, job_id)
        assert job is not None, f"job {job_id} lost"
        return job

    def running_mid_job(self, job_ids: list[str]) -> Job | None:
        """A job that a worker is in the middle of: some images done, not all."""
        for job_id in job_ids:
            job = self.job(job_id)
            if job.status is JobStatus.RUNNING and 0 < job.progress_done < job.progress_total:
                return job
        return None

    def recorded(self, job_id: str, chunk: Chunk) -> int:
        """The chunk's images with a recorded outcome (read from the image records, not the chunk's
        ``done``, which its worker reports only now and then)."""
        images = self.services.ledger.list_images(TENANT, job_id)[chunk.start : chunk.stop]
        return sum(image.status is not ImageStatus.PENDING for image in images)

    def chunk_mid_way(
        self, job_ids: list[str], *, coordinator: bool | None = None
    ) -> tuple[Job, Chunk] | None:
        """A running chunk that its worker is in the middle of: some of its images recorded, not all.
        ``coordinator`` True / False: only a chunk run by the job's coordinator / by another worker."""
        for job_id in job_ids:
            job = self.job(job_id)
            if job.status is not JobStatus.RUNNING:
                continue
            for chunk in self.services.ledger.list_chunks(job_id):
                if chunk.status is not ChunkStatus.RUNNING or chunk.lease_owner is None:
                    continue
                if coordinator is not None and (chunk.lease_owner == job.lease_owner) is not coordinator:
                    continue
                if 0 < self.recorded(job_id, chunk) < chunk.stop - chunk.start:
                    return job, chunk
        return None

    def wait_all_final(self, job_ids: list[str], timeout: float) -> None:
        wait_for(
            lambda: all(self.job(j).status.is_final for j in job_ids), timeout, "every job to finish", 0.5
        )

    def logs(self) -> str:
        return "\n".join(pool.log.read_text(errors="replace")[-6000:] for pool in self.pools)

    def assert_succeeded_exactly_once(self, job_ids: list[str]) -> None:
        """Every job succeeded, every image once, one group per image, and the blob store holds exactly
        the originals and outputs the ledger points at: nothing duplicated, nothing orphaned."""
        ledger, referenced = self.services.ledger, set()
        for job_id in job_ids:
            job = self.job(job_id)
            assert job.status is JobStatus.SUCCEEDED, (job.status, job.error, self.logs())
            images = ledger.list_images(TENANT, job_id)
            assert all(image.status is ImageStatus.SUCCEEDED for image in images), [i.error for i in images]
            grouped = [image_id for group in job.result["groups"] for image_id in group["imageIds"]]  # type: ignore[index]
            assert sorted(grouped) == sorted(image.image_id for image in images)
            for image in images:
                assert set(image.outputs) >= {"thumbnail", "cutout", "mask"}
                referenced |= {image.blob_key, *image.outputs.values()}
        assert set(self.services.blobs.list(f"{TENANT}/")) == referenced

    def close(self) -> None:
        for pool in self.pools:
            pool.stop()
