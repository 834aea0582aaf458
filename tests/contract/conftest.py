"""Backends for the contract suites: the ledger on SQLite, PostgreSQL and DynamoDB (moto) with a test
clock, the queue on SQLite, Redis and SQS (moto), and the blob store on the local disk and S3 (moto)
(the servers themselves come from ``tests/backends.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_support import ManualClock
from queue_support import HUEY_QUEUES, queue_url_of

from backends import SERVER_LEDGER_URLS, S3Server
from bgremover.blobs import BlobStore
from bgremover.blobs.local import LocalBlobStore
from bgremover.blobs.s3 import S3BlobStore
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url


@pytest.fixture(params=HUEY_QUEUES)
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return queue_url_of(request.param, request, tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield request.getfixturevalue(SERVER_LEDGER_URLS[request.param])


@pytest.fixture
def ledger(database_url: str, clock: ManualClock) -> Iterator[JobLedger]:
    """A migrated ledger whose time is ``clock``, so lease expiry and due times are exact."""
    ledger = ledger_from_url(database_url, clock=clock)
    yield ledger
    ledger.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore.from_url(f"file://{tmp_path / 'blobs'}")
    s3: S3Server = request.getfixturevalue("s3")
    return S3BlobStore.from_url(f"s3://{s3.create_bucket()}/deploy/a", endpoint_url=s3.endpoint_url)
