"""A real distributed deployment per fault test: PostgreSQL (a fresh database) or DynamoDB (moto, a
fresh table), a private Redis, S3 (moto), ``bg-remover worker`` processes, and the API in-process on the
same URLs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import TENANT, Cluster, PrivateRedis
from fastapi.testclient import TestClient

from backends import S3Server, free_port
from bgremover.api import create_app
from bgremover.settings import Settings
from bgremover.wiring import build_services

# Short leases and a fast reaper so that recovery takes seconds; generous attempts because two shared
# cores under load can stall a healthy worker past a short lease now and then.
FAST_RECOVERY = {
    "BGR_LEASE_S": "5",
    "BGR_REAPER_INTERVAL_S": "1",
    "BGR_RETRY_BACKOFF_S": "0.5",
    "BGR_QUEUED_GRACE_S": "5",
    "BGR_JOB_MAX_ATTEMPTS": "6",
    "BGR_SHUTDOWN_GRACE_S": "2",
}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def cluster(
    tmp_path: Path,
    postgres_url: str,
    private_redis: PrivateRedis,
    s3: S3Server,
    model_dir: Path,
    shared_data: Path,
) -> Iterator[Cluster]:
    yield from deployment(_distributed(postgres_url, private_redis, s3), tmp_path, model_dir, shared_data)


@pytest.fixture
def embedded_cluster(tmp_path: Path, model_dir: Path, shared_data: Path) -> Iterator[Cluster]:
    """The embedded deployment: SQLite ledger, SQLite Huey queue, blobs on local disk."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        storage_url=f"file://{tmp_path / 'blobs'}",
        model_dir=model_dir,
        enqueue_timeout_s=5.0,
    )
    yield from deployment(settings, tmp_path, model_dir, shared_data)


@pytest.fixture
def dynamodb_cluster(
    tmp_path: Path,
    dynamodb_url: str,
    private_redis: PrivateRedis,
    s3: S3Server,
    model_dir: Path,
    shared_data: Path,
) -> Iterator[Cluster]:
    """The same deployment with the DynamoDB ledger (moto's server, reached by the worker processes
    through the ``AWS_ENDPOINT_URL_DYNAMODB`` they inherit)."""
    yield from deployment(_distributed(dynamodb_url, private_redis, s3), tmp_path, model_dir, shared_data)


def _distributed(database_url: str, private_redis: PrivateRedis, s3: S3Server) -> Settings:
    return Settings(
        database_url=database_url,
        queue_url=private_redis.url,
        storage_url=f"s3://{s3.create_bucket()}/bgr",
        s3_endpoint_url=s3.endpoint_url,
        enqueue_timeout_s=5.0,
    )


def deployment(settings: Settings, tmp_path: Path, model_dir: Path, shared_data: Path) -> Iterator[Cluster]:
    """An API (in process) over ``settings``' backends, and the environment its worker processes get."""
    settings = settings.model_copy(update={"model_dir": model_dir})
    env = {
        **os.environ,
        **FAST_RECOVERY,
        "BGR_CONFIG_FILE": str(tmp_path / "no-config.toml"),
        "BGR_DATABASE_URL": settings.database_url,
        "BGR_QUEUE_URL": settings.queue_url,
        "BGR_STORAGE_URL": settings.storage_url,
        "BGR_PARAM_STORE_URL": settings.param_store_url,
        "BGR_STAGE": settings.stage,
        "BGR_MODEL_DIR": str(model_dir),
    }
    if settings.s3_endpoint_url is not None:
        env["BGR_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    services = build_services(settings)
    photos = sorted((shared_data / "sod300" / "images").glob("*.jpg"))
    client = TestClient(create_app(services, settings))

    def submit_files(named: list[tuple[str, bytes]]) -> str:
        response = client.post(
            "/v1/group-images",
            files=[("images", (name, data, "image/jpeg")) for name, data in named],
            data={"remove_background": "true"},
            headers={"X-Tenant-ID": TENANT},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["jobId"])

    cluster = Cluster(services, env, tmp_path, submit_files, photos)
    yield cluster
    cluster.close()
    client.close()
    services.close()
