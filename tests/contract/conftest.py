"""Backends for the contract suites: each suite is parametrized over every adapter of its port, and the
servers behind them are real (moto's S3 server, PostgreSQL, Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backends import S3Server, postgres_available, postgres_database, redis_available, s3_server


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
