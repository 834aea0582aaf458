"""Backends for the contract suites: each suite is parametrized over every adapter of its port, and the
servers behind them are real (moto's S3 server, PostgreSQL, Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import (
    REDIS_URL,
    S3Server,
    postgres_available,
    postgres_database,
    redis_available,
    redis_namespace,
    s3_server,
)
from bgremover.queue.huey_queue import HueyDispatcher, huey_from_url


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_up() -> None:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def postgres_url(postgres_up: None) -> Iterator[str]:
    """A fresh database per test: counts and reclaimable lists must not see other tests' jobs."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_up() -> None:
    reason = redis_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    request.getfixturevalue("redis_up")
    return REDIS_URL


@pytest.fixture
def dispatcher(queue_url: str) -> Iterator[HueyDispatcher]:
    """A real Huey dispatcher; on Redis its keys live under a namespace of its own."""
    with redis_namespace() as name:
        dispatcher = HueyDispatcher(huey_from_url(queue_url, name=name))
        yield dispatcher
        dispatcher.close()
