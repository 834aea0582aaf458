"""Every ledger test runs on SQLite (a file in WAL mode), on a real PostgreSQL database and on DynamoDB
(moto's server, a table per test); ``sql_ledger`` tests only the SQL adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import postgres_available, postgres_database
from bgremover.ledger.base import JobLedger
from bgremover.ledger.factory import ledger_from_url
from bgremover.ledger.sql import SqlJobLedger


@pytest.fixture(scope="session")
def postgres_ledger_url() -> Iterator[str]:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    with postgres_database() as url:
        yield url


def _sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_ledger_url"))


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "dynamodb":
        return str(request.getfixturevalue("dynamodb_url"))
    return _sql_url(request, tmp_path)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[JobLedger]:
    ledger = ledger_from_url(ledger_url)
    yield ledger
    ledger.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlJobLedger]:
    ledger = SqlJobLedger.from_url(_sql_url(request, tmp_path))
    yield ledger
    ledger.close()
