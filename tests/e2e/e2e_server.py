"""A real ``bg-remover serve`` (uvicorn + worker processes) in a scratch folder, for end-to-end tests
through HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from backends import free_port
from server_readiness import wait_until_ready

FINAL = {"succeeded", "failed", "canceled"}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    workdir: Path
    log: Path

    def client(self, tenant: str | None = None) -> httpx.Client:
        headers = {"X-Tenant-ID": tenant} if tenant else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 90) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


def wait_for_job(client: httpx.Client, job_id: str, *, timeout: float = 180, until: set[str] = FINAL) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} not in {until} after {timeout} s: {job}")


@contextmanager
def running_server(
    workdir: Path, model_dir: Path, *, workers: int = 1, probe: str = "/readyz", **env: str
) -> Iterator[Server]:
    """``bg-remover serve`` with its state under ``workdir/var``, once ``probe`` answers 200; stopped
    (SIGTERM) afterwards."""
    port = free_port()
    log = workdir / "serve.log"
    environment = {**os.environ, "BGR_MODEL_DIR": str(model_dir), "BGR_SHUTDOWN_GRACE_S": "60", **env}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-c", "from bgremover.cli import main; main()", "serve"]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", workdir, log)
    try:
        wait_until_ready(f"{server.base_url}{probe}", process, log)
        yield server
    finally:
        try:
            server.stop()
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
