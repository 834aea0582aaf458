"""The security tests drive the same in-process app on the same real embedded backends as tests/api."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.conftest import client, make_client, restore_logging, services, settings
from security.fuzz_support import assert_healthy

__all__ = ["client", "make_client", "restore_logging", "services", "settings"]


@pytest.fixture
def fuzz_client(client: TestClient) -> Iterator[TestClient]:
    """The client of a fuzz run, and after the whole run a check that the server is still healthy."""
    yield client
    assert_healthy(client)
