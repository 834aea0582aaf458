"""The ``Dispatcher`` contract on SqliteHuey, RedisHuey, Huey on SQS (moto) and Lambda's asynchronous
Invoke (a double of its API): every enqueued job id is handed over exactly once, and a backend that
hangs or is down costs the caller a bounded wait, never a hang."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from botocore.exceptions import BotoCoreError
from queue_support import HUEY_QUEUES, queue_huey, queue_url_of

from backends import REDIS_URL, redis_namespace
from bgremover.queue import Dispatcher, EnqueueError
from bgremover.queue.factory import dispatcher_from_url
from bgremover.queue.huey_queue import HueyDispatcher


def drain(dispatcher: HueyDispatcher) -> list[str]:
    ids = []
    while (task := dispatcher.next_task()) is not None:
        ids.append(task.args[0])
    return ids


@dataclass
class QueueUnderTest:
    dispatcher: Dispatcher
    delivered: Callable[[], list[str]]  # the job ids that reached a consumer since the last call
    ordered: bool  # FIFO: SQS standard queues and Lambda's event queue promise no order
    counts_depth: bool  # Lambda's event queue is not visible to its callers


@pytest.fixture(params=[*HUEY_QUEUES, "lambda"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueUnderTest]:
    if request.param == "lambda":
        api = request.getfixturevalue("lambda_api")
        dispatcher = dispatcher_from_url("lambda://bgr-worker")
        seen = 0

        def invoked() -> list[str]:
            nonlocal seen
            ids = api.job_ids("bgr-worker")[seen:]
            seen += len(ids)
            return ids

        yield QueueUnderTest(dispatcher, invoked, ordered=False, counts_depth=False)
        dispatcher.close()
        return
    url = queue_url_of(request.param, request, tmp_path)
    with redis_namespace() as name:
        huey_dispatcher = HueyDispatcher(queue_huey(url, name))
        yield QueueUnderTest(
            huey_dispatcher, lambda: drain(huey_dispatcher), request.param != "sqs", counts_depth=True
        )
        huey_dispatcher.close()


def test_enqueued_job_ids_are_handed_over_once_each(queue: QueueUnderTest) -> None:
    queue.dispatcher.ping()
    assert queue.dispatcher.depth() == 0
    for job_id in ["j1", "j2", "j3"]:
        queue.dispatcher.enqueue(job_id, timeout=5)
    if queue.counts_depth:
        assert queue.dispatcher.depth() == 3
    delivered = queue.delivered()
    assert sorted(delivered) == ["j1", "j2", "j3"]
    if queue.ordered:
        assert delivered == ["j1", "j2", "j3"]
    assert queue.delivered() == []
    assert queue.dispatcher.depth() == 0


def test_workers_racing_on_the_queue_each_get_distinct_messages(queue_url: str) -> None:
    with redis_namespace() as name:
        producer = HueyDispatcher(queue_huey(queue_url, name))
        consumers = [HueyDispatcher(queue_huey(queue_url, name)) for _ in range(4)]
        for i in range(40):
            producer.enqueue(f"j{i}", timeout=5)
        got: list[list[str]] = [[] for _ in consumers]
        threads = [
            threading.Thread(target=lambda c=c, out=out: out.extend(drain(c)))
            for c, out in zip(consumers, got, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        delivered = [job_id for out in got for job_id in out]
        assert sorted(delivered) == sorted(f"j{i}" for i in range(40))
        for dispatcher in [producer, *consumers]:
            dispatcher.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a hung Redis or AWS endpoint as
    clients see it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def closed_port() -> int:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    return int(number)


def dispatcher_at(kind: str, port: int, request: pytest.FixtureRequest) -> Dispatcher:
    """A dispatcher of ``kind`` whose backend is whatever listens on ``port``."""
    if kind == "redis":
        return dispatcher_from_url(REDIS_URL.replace("127.0.0.1:6379", f"127.0.0.1:{port}"))
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    request.getfixturevalue("lambda_api")  # test credentials and region
    service = "SQS" if kind == "sqs" else "LAMBDA"
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", f"http://127.0.0.1:{port}")
    return dispatcher_from_url("sqs://bgr-jobs" if kind == "sqs" else "lambda://bgr-worker")


@pytest.mark.parametrize("kind", ["redis", "sqs", "lambda"])
def test_enqueue_to_a_hung_backend_fails_within_its_timeout(
    kind: str, silent_server: int, request: pytest.FixtureRequest
) -> None:
    dispatcher = dispatcher_at(kind, silent_server, request)
    started = time.monotonic()
    with pytest.raises(EnqueueError, match=r"within 0\.5 s"):
        dispatcher.enqueue("j1", timeout=0.5)
    assert time.monotonic() - started < 2
    dispatcher.close()


def test_enqueue_to_a_hanging_invoke_endpoint_fails_within_its_timeout(lambda_api) -> None:  # type: ignore[no-untyped-def]
    """The endpoint accepts the request and never answers it (the double told to hang)."""
    dispatcher = dispatcher_from_url("lambda://bgr-worker")
    lambda_api.hang()
    started = time.monotonic()
    with pytest.raises(EnqueueError, match=r"within 0\.5 s"):
        dispatcher.enqueue("j1", timeout=0.5)
    assert time.monotonic() - started < 2
    dispatcher.close()


@pytest.mark.parametrize("kind", ["redis", "sqs", "lambda"])
def test_enqueue_to_a_stopped_backend_fails_fast(kind: str, request: pytest.FixtureRequest) -> None:
    dispatcher = dispatcher_at(kind, closed_port(), request)
    started = time.monotonic()
    with pytest.raises(EnqueueError):
        dispatcher.enqueue("j1", timeout=5)
    assert time.monotonic() - started < 5
    with pytest.raises((redis.RedisError, BotoCoreError)):
        dispatcher.ping()
    dispatcher.close()
