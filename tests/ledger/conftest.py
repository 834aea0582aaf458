"""Every ledger test runs on SQLite (a file in WAL mode) and on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import postgres_available, postgres_database
from bgremover.ledger.sql import SqlJobLedger


@pytest.fixture(scope="session")
def postgres_ledger_url() -> Iterator[str]:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_ledger_url"))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[SqlJobLedger]:
    ledger = SqlJobLedger.from_url(ledger_url)
    yield ledger
    ledger.close()
