"""The Huey dispatcher on a real SQLite queue file and a real Redis, including backends that hang."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from backends import REDIS_URL, redis_available, redis_namespace
from bgremover.queue import EnqueueError
from bgremover.queue.huey_queue import HueyDispatcher


@pytest.fixture(params=["sqlite", "redis"])
def queue_url_and_name(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}", "bgremover"
        return
    reason = redis_available()
    if reason:
        pytest.skip(reason)
    with redis_namespace() as name:
        yield REDIS_URL, name


def test_a_worker_receives_what_the_api_enqueued(queue_url_and_name: tuple[str, str]) -> None:
    url, name = queue_url_and_name
    api = HueyDispatcher.from_url(url, name=name)  # no handler, like the API process
    seen: list[str] = []
    worker = HueyDispatcher.from_url(url, seen.append, name=name)
    api.enqueue("job-1", timeout=5)
    api.enqueue("job-2", timeout=5)
    assert api.depth() == 2
    for _ in range(2):
        task = worker.next_task()
        assert task is not None
        worker.execute(task)
    assert seen == ["job-1", "job-2"]
    assert api.depth() == 0
    api.ping()


def test_the_api_process_never_runs_jobs(tmp_path: Path) -> None:
    api = HueyDispatcher.from_url(f"sqlite:///{tmp_path / 'q.db'}")
    api.enqueue("job-1", timeout=5)
    with pytest.raises(RuntimeError, match="no job handler"):
        api._run("job-1")


def test_enqueue_on_a_locked_sqlite_queue_fails_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    dispatcher = HueyDispatcher.from_url(f"sqlite:///{path}")
    dispatcher.ping()  # tables exist
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(EnqueueError, match=r"within 0\.5 s"):
            dispatcher.enqueue("job-1", timeout=0.5)
        assert time.monotonic() - started < 2.0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    dispatcher.enqueue("job-2", timeout=5)  # the queue recovers once the lock is gone
    assert dispatcher.depth() >= 1


def test_enqueue_on_a_redis_that_never_answers_fails_within_the_timeout() -> None:
    with closing(socket.socket()) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections in the kernel, never answers
        port = silent.getsockname()[1]
        dispatcher = HueyDispatcher.from_url(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        with pytest.raises(EnqueueError):
            dispatcher.enqueue("job-1", timeout=0.5)
        assert time.monotonic() - started < 2.0
        dispatcher.close()


def test_enqueue_on_an_unreachable_redis_reports_the_reason() -> None:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    dispatcher = HueyDispatcher.from_url(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(EnqueueError, match="rejected"):
        dispatcher.enqueue("job-1", timeout=5)


def test_unsupported_queue_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported queue URL"):
        HueyDispatcher.from_url("amqp://broker")
