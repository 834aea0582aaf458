"""The deployments a scenario runs against, on this machine and loopback only, each in a scratch
folder: ``embedded`` (one ``bg-remover serve`` with its worker processes, SQLite ledger and queue) and
``distributed`` (a fresh PostgreSQL database, a private queue name on Redis, ``serve --workers 0`` for
the API and a separate ``bg-remover worker``). Each yields a ``Target`` that names the API process and
the worker processes apart, so their CPU and memory are measured apart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the tests' throwaway backends and readiness wait

from backends import REDIS_URL, free_port, postgres_database, redis_namespace  # noqa: E402
from server_readiness import wait_until_ready  # noqa: E402

BG_REMOVER = [sys.executable, "-c", "from bgremover.cli import main; main()"]


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    base_url: str
    api: psutil.Process
    worker_root: psutil.Process  # the worker processes are it and its descendants (API excluded)
    workdir: Path

    def workers(self) -> list[psutil.Process]:
        try:
            tree = [self.worker_root, *self.worker_root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        return [process for process in tree if process.pid != self.api.pid]


def _start(command: list[str], workdir: Path, env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
    with (workdir / log).open("wb") as out:
        return subprocess.Popen(
            [*BG_REMOVER, *command],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (jobs in flight finish within the grace), SIGKILL to the group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _await_workers(process: subprocess.Popen[bytes], log: Path, count: int, timeout: float = 180) -> None:
    """Until ``count`` workers have logged that they started (models loaded), as bench/ does."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("worker_started") < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def _environment(workdir: Path, model_dir: Path, **settings: str) -> dict[str, str]:
    env = {**os.environ, "BGR_MODEL_DIR": str(model_dir), "BGR_SHUTDOWN_GRACE_S": "30"}
    env["BGR_CONFIG_FILE"] = str(workdir / "no-config.toml")  # never a developer's local config
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {**env, **settings}


@contextmanager
def _serve(
    workdir: Path, env: dict[str, str], workers: int, probe: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = _start(["serve", "--port", str(port), "--workers", str(workers)], workdir, env, "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}{probe}", process, workdir / "serve.log", timeout=180)
        yield url, process
    finally:
        _stop(process)


@contextmanager
def embedded(workdir: Path, model_dir: Path, workers: int = 1) -> Iterator[Target]:
    env = _environment(workdir, model_dir)
    with _serve(workdir, env, workers, "/readyz") as (url, process):
        api = psutil.Process(process.pid)
        yield Target("embedded", url, api, api, workdir)


@contextmanager
def distributed(workdir: Path, model_dir: Path, workers: int = 1) -> Iterator[Target]:
    with ExitStack() as stack:
        database = stack.enter_context(postgres_database())
        queue_name = stack.enter_context(redis_namespace())
        env = _environment(
            workdir,
            model_dir,
            BGR_DATABASE_URL=database,
            BGR_QUEUE_URL=REDIS_URL,
            BGR_QUEUE_NAME=queue_name,
            BGR_STORAGE_URL=f"file://{workdir / 'blobs'}",
        )
        url, process = stack.enter_context(_serve(workdir, env, 0, "/healthz"))  # migrates the database
        pool = _start(["worker", "--workers", str(workers)], workdir, env, "workers.log")
        stack.callback(_stop, pool)
        _await_workers(pool, workdir / "workers.log", workers)
        yield Target("distributed", url, psutil.Process(process.pid), psutil.Process(pool.pid), workdir)


TARGETS = {"embedded": embedded, "distributed": distributed}
