"""AWS backends as an operator runs them: ``bg-remover serve --workers 0`` and ``bg-remover worker``
with ``BGR_QUEUE_URL=sqs://``, ``BGR_PARAM_STORE_URL=ssm://`` and ``BGR_STORAGE_URL=s3://``, every
endpoint from boto3's own ``AWS_ENDPOINT_URL`` (moto's server). A tenant whose configuration exists
only in SSM gets group jobs done with it, its outputs download, and nothing lands in local files; then
SSM turns as slow as the original's (8 s a call): submits stay fast, the worker waits, the job succeeds.

The ledger is a parameter (``LEDGERS``): DynamoDB (everything on AWS services) and PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from e2e_server import running_server, wait_for_job
from PIL import Image

from backends import S3Server
from bgremover.params import config_key
from slow_http_proxy import SlowHttpProxy, slow_http_proxy

pytestmark = pytest.mark.slow
TENANT = "acme"
SSM_DELAY_S = 8.0

LEDGERS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "dynamodb": lambda request: request.getfixturevalue("dynamodb_url"),
    "postgresql": lambda request: request.getfixturevalue("postgres_url").replace("+psycopg", ""),
}


@pytest.fixture(params=sorted(LEDGERS))
def ledger_url(request: pytest.FixtureRequest) -> str:
    return LEDGERS[request.param](request)


def start_worker(workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    workdir.mkdir()
    command = [sys.executable, "-c", "from bgremover.cli import main; main()", "worker", "--workers", "1"]
    with (workdir / "worker.log").open("wb") as out:
        return subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_log(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, f"no {text!r} in {log} after {timeout} s"
        time.sleep(0.25)


@pytest.fixture
def ssm_proxy(aws_endpoint: str) -> Iterator[SlowHttpProxy]:
    """The deployment reaches SSM through this relay, which the test can slow down."""
    with slow_http_proxy(aws_endpoint) as proxy:
        yield proxy


@pytest.fixture
def deployment_env(
    tmp_path: Path, ledger_url: str, s3: S3Server, sqs_queue: str, ssm_stage: str, ssm_proxy: SlowHttpProxy
) -> dict[str, str]:
    """The settings an operator gives both commands (boto3 finds moto through ``AWS_ENDPOINT_URL``)."""
    return {
        "BGR_CONFIG_FILE": str(tmp_path / "no-config.toml"),
        "BGR_DATABASE_URL": ledger_url,
        "BGR_QUEUE_URL": f"sqs://{sqs_queue}",
        "BGR_STORAGE_URL": f"s3://{s3.create_bucket()}/bgr",
        "BGR_PARAM_STORE_URL": "ssm://",
        "BGR_STAGE": ssm_stage,
        "BGR_CONFIG_MAX_AGE_S": "1",  # every job reads SSM again
        "AWS_ENDPOINT_URL_SSM": ssm_proxy.url,
    }


def photo_files(shared_data: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    folder = shared_data / "fashion_products"
    names = ["ukbench00000.jpg", "ukbench00001.jpg", "ukbench00400.jpg"]
    return [("images", (name, (folder / name).read_bytes(), "image/jpeg")) for name in names]


def local_state(*folders: Path) -> list[str]:
    """What the deployment wrote under its working folders' ``var``, but the metrics' per-process
    scratch files (``var/prometheus``): the jobs' state and data must all be on the AWS backends."""
    files = [p.relative_to(f) for f in folders for p in (f / "var").rglob("*") if p.is_file()]
    return sorted(str(p) for p in files if p.parts[:2] != ("var", "prometheus"))


def test_an_operator_runs_group_jobs_on_aws_backends(
    tmp_path: Path,
    model_dir: Path,
    shared_data: Path,
    deployment_env: dict[str, str],
    ssm_stage: str,
    ssm_proxy: SlowHttpProxy,
) -> None:
    boto3.client("ssm").put_parameter(
        Name=config_key(ssm_stage, TENANT), Value=json.dumps({"thumbnail_size": 64}), Type="SecureString"
    )
    serve_dir = tmp_path / "serve"
    serve_dir.mkdir()
    worker_env = {**os.environ, **deployment_env, "BGR_MODEL_DIR": str(model_dir)}
    worker = start_worker(tmp_path / "worker", worker_env)
    try:
        serving = running_server(serve_dir, model_dir, workers=0, **deployment_env)
        with serving as server, server.client(TENANT) as client:
            wait_for_log(tmp_path / "worker" / "worker.log", "worker_started", worker)
            files, options = photo_files(shared_data), {"remove_background": "true"}
            job_id = client.post("/v1/group-images", files=files, data=options).json()["jobId"]
            job = wait_for_job(client, job_id, timeout=300)
            assert job["status"] == "succeeded", job
            images = job["result"]["images"]
            assert [image["status"] for image in images] == ["succeeded"] * 3
            assert all(image["groupId"] for image in images)
            for image in images:
                thumbnail = client.get(f"/v1/jobs/{job_id}/images/{image['imageId']}/thumbnail")
                assert thumbnail.status_code == 200
                assert max(Image.open(io.BytesIO(thumbnail.content)).size) == 64  # the SSM-only setting
                cutout = client.get(f"/v1/jobs/{job_id}/images/{image['imageId']}/cutout")
                assert cutout.status_code == 200 and Image.open(io.BytesIO(cutout.content)).mode == "RGBA"

            ssm_proxy.delay_s = SSM_DELAY_S
            started = time.perf_counter()
            slow = client.post("/v1/group-images", files=files[:1], data=options)
            assert slow.status_code == 202
            assert time.perf_counter() - started < SSM_DELAY_S / 2  # the submit path never reads SSM
            slow_job = wait_for_job(client, slow.json()["jobId"], timeout=300)
            assert slow_job["status"] == "succeeded", slow_job
            assert time.perf_counter() - started >= SSM_DELAY_S  # the worker waited for SSM
            assert ssm_proxy.delayed >= 1
    finally:
        stop(worker)
    assert local_state(serve_dir, tmp_path / "worker") == []
