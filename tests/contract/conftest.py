"""Backends for the contract suites: the ledger on SQLite and PostgreSQL with a test clock, and the
queue on SQLite and Redis (the servers themselves come from ``tests/backends.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_support import ManualClock

from backends import REDIS_URL, redis_namespace
from bgremover.ledger.engine import create_ledger_engine
from bgremover.ledger.sql import SqlJobLedger
from bgremover.queue.huey_queue import HueyDispatcher, huey_from_url


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


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(database_url: str, clock: ManualClock) -> Iterator[SqlJobLedger]:
    """A migrated ledger whose time is ``clock``, so lease expiry and due times are exact."""
    ledger = SqlJobLedger(create_ledger_engine(database_url), clock=clock)
    ledger.migrate()
    yield ledger
    ledger.close()
