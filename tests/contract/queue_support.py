"""Helpers of the queue contract suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from huey import Huey

from backends import REDIS_URL
from bgremover.queue.huey_queue import huey_from_url
from bgremover.queue.sqs import sqs_huey

HUEY_QUEUES = ["sqlite", "redis", "sqs"]


def queue_url_of(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh queue of ``kind`` (one of ``HUEY_QUEUES``); on Redis, name the Huey after a namespace."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    if kind == "sqs":
        return f"sqs://{request.getfixturevalue('sqs_queue')}"
    request.getfixturevalue("redis_up")
    return REDIS_URL


def queue_huey(queue_url: str, name: str) -> Huey:
    """Huey on ``queue_url``; on SQS with short polls, so that reading an empty queue answers at once."""
    if queue_url.startswith("sqs://"):
        return sqs_huey(queue_url, name=name, wait_s=0)
    return huey_from_url(queue_url, name=name)
