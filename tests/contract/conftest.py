"""Queue backends for the contract suites (the servers themselves come from ``tests/backends.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import REDIS_URL, redis_namespace
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
