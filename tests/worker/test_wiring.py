"""``build_services`` turns URLs into the embedded or the distributed adapters."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from huey import RedisHuey, SqliteHuey
from pydantic import ValidationError

from backends import REDIS_URL, postgres_available, postgres_database, redis_available
from bgremover.blobs.local import LocalBlobStore
from bgremover.ledger.dynamodb import DynamoDbJobLedger
from bgremover.resilience.claims import ClaimBoard
from bgremover.settings import Settings
from bgremover.wiring import build_services
from bgremover.worker.runtime import WorkerRuntime


def test_embedded_defaults_live_under_one_folder(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/var/bgremover.db",
        queue_url=f"sqlite:///{tmp_path}/var/queue.db",
        storage_url=f"file://{tmp_path}/var/blobs",
    )
    services = build_services(settings)
    try:
        assert isinstance(services.dispatcher.huey, SqliteHuey)
        assert isinstance(services.blobs, LocalBlobStore)
        services.ledger.ping()
        services.dispatcher.ping()
        assert {"bgremover.db", "queue.db", "blobs"} <= {p.name for p in (tmp_path / "var").iterdir()}
    finally:
        services.close()


def test_distributed_mode_is_only_urls(tmp_path: Path) -> None:
    for reason in (postgres_available(), redis_available()):
        if reason:
            pytest.skip(reason)
    with postgres_database() as database_url:
        settings = Settings(
            database_url=database_url.replace("postgresql+psycopg://", "postgresql://"),
            queue_url=REDIS_URL,
            storage_url=f"file://{tmp_path}/blobs",
        )
        services = build_services(settings)
        try:
            assert services.ledger.engine.dialect.name == "postgresql"
            assert isinstance(services.dispatcher.huey, RedisHuey)
            services.ledger.ping()
            services.dispatcher.ping()
        finally:
            services.close()


def test_a_dynamodb_url_creates_the_table_unless_the_template_owns_it(
    tmp_path: Path, dynamodb_url: str
) -> None:
    base = {"queue_url": f"sqlite:///{tmp_path}/q.db", "storage_url": f"file://{tmp_path}/blobs"}
    owned = build_services(Settings(database_url=dynamodb_url, database_migrate=False, **base))
    try:
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            owned.ledger.ping()  # BGR_DATABASE_MIGRATE=false: the infrastructure template creates it
    finally:
        owned.close()
    services = build_services(Settings(database_url=dynamodb_url, **base))
    try:
        assert isinstance(services.ledger, DynamoDbJobLedger)
        services.ledger.ping()
    finally:
        services.close()


def test_the_chunk_size_and_the_claim_board_reach_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BGR_JOB_CHUNK_IMAGES", "7")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/ledger.db",
        queue_url=f"sqlite:///{tmp_path}/queue.db",
        storage_url=f"file://{tmp_path}/blobs",
    )
    assert Settings().job_chunk_images == 7 and Settings(job_chunk_images=0).job_chunk_images == 0
    with pytest.raises(ValidationError):
        Settings(job_chunk_images=-1)
    board = ClaimBoard()
    runtime = WorkerRuntime(settings, board=board)
    try:
        runner = runtime.runner
        assert (runner.limits.chunk_images, runner.board) == (7, board)
        assert runner.dispatcher is runtime.services.dispatcher, "the coordinator calls helpers on the queue"
    finally:
        runtime.stop()
        board.close()
