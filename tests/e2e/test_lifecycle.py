"""Serve's edges, each with its own server: a queue that hangs, and shutdown with a job in flight."""

from __future__ import annotations

import signal
import socket
import time
from contextlib import closing
from pathlib import Path

from e2e_server import running_server, wait_for_job

from bgremover.ledger import JobStatus
from bgremover.ledger.sql import SqlJobLedger


def product_files(shared_data: Path, count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    folder = shared_data / "fashion_products"
    return [
        ("images", (f"{n}.jpg", (folder / f"ukbench{n:05d}.jpg").read_bytes(), "image/jpeg"))
        for n in range(count)
    ]


def stored_job(workdir: Path, tenant: str, job_id: str):  # type: ignore[no-untyped-def]
    ledger = SqlJobLedger.from_url(f"sqlite:///{workdir / 'var' / 'bgremover.db'}", migrate=False)
    try:
        return ledger.get_job(tenant, job_id)
    finally:
        ledger.close()


def test_a_hanging_queue_answers_503_fast_and_fails_the_job(
    tmp_path: Path, model_dir: Path, shared_data: Path
) -> None:
    with closing(socket.socket()) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections are accepted by the kernel and never answered
        queue_url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        env = {"BGR_QUEUE_URL": queue_url, "BGR_ENQUEUE_TIMEOUT_S": "1"}
        serving = running_server(tmp_path, model_dir, workers=0, probe="/healthz", **env)
        with serving as server, server.client() as client:
            started = time.perf_counter()
            response = client.post("/v1/remove-background", files=product_files(shared_data, 1))
            elapsed = time.perf_counter() - started
            assert response.status_code == 503, response.text
            assert elapsed < 5
            assert int(response.headers["Retry-After"]) > 0
            job_id = response.json()["jobId"]
            job = client.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] == "failed" and job["error"]["stage"] == "enqueue"


def test_sigterm_lets_the_job_in_flight_finish(tmp_path: Path, model_dir: Path, shared_data: Path) -> None:
    with running_server(tmp_path, model_dir, workers=1) as server, server.client() as client:
        job_id = client.post("/v1/remove-background", files=product_files(shared_data, 12)).json()["jobId"]
        wait_for_job(client, job_id, until={"running"}, timeout=60)
        assert server.stop(signal.SIGTERM) == 0
    job = stored_job(tmp_path, "default", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.progress_done == 12


def test_sigint_returns_the_job_in_flight_to_the_queue(
    tmp_path: Path, model_dir: Path, shared_data: Path
) -> None:
    with running_server(tmp_path, model_dir, workers=1) as server, server.client() as client:
        job_id = client.post("/v1/remove-background", files=product_files(shared_data, 40)).json()["jobId"]
        wait_for_job(client, job_id, until={"running"}, timeout=60)
        server.stop(signal.SIGINT, timeout=30)
    job = stored_job(tmp_path, "default", job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.attempts == 1
    assert job.lease_owner is None and job.progress_done < 40
    with running_server(tmp_path, model_dir, workers=1) as server, server.client() as client:
        job_json = wait_for_job(client, job_id)  # the returned message is picked up by the new worker
        assert job_json["status"] == "succeeded" and job_json["attempts"] == 2
