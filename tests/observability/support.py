"""A fixture shared by the tests that configure logging (imported by their conftest files)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from log_capture import route_logs_to_pytest


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the process's logging back as the test found it: the root's handlers and level, and
    structlog handing its lines to pytest's capture (``log_capture``)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    route_logs_to_pytest()
