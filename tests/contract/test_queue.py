"""The ``Dispatcher`` contract on SqliteHuey and RedisHuey: messages carry job ids, the depth is
visible, and a backend that hangs costs the caller a bounded wait, never a hang."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from backends import redis_namespace
from bgremover.queue import EnqueueError
from bgremover.queue.huey_queue import HueyDispatcher, huey_from_url


def drain(dispatcher: HueyDispatcher) -> list[str]:
    ids = []
    while (task := dispatcher.next_task()) is not None:
        ids.append(task.args[0])
    return ids


def test_enqueued_job_ids_come_out_in_order_and_depth_counts_them(dispatcher: HueyDispatcher) -> None:
    assert dispatcher.depth() == 0
    for job_id in ["j1", "j2", "j3"]:
        dispatcher.enqueue(job_id, timeout=5)
    assert dispatcher.depth() == 3
    assert drain(dispatcher) == ["j1", "j2", "j3"]
    assert dispatcher.depth() == 0
    dispatcher.ping()


def test_workers_racing_on_the_queue_each_get_distinct_messages(queue_url: str) -> None:
    with redis_namespace() as name:
        producer = HueyDispatcher(huey_from_url(queue_url, name=name))
        consumers = [HueyDispatcher(huey_from_url(queue_url, name=name)) for _ in range(4)]
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
    """A TCP server that accepts connections and never answers: a hung Redis as clients see it."""
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


def test_enqueue_to_a_hung_redis_fails_within_its_timeout(silent_server: int) -> None:
    dispatcher = HueyDispatcher(huey_from_url(f"redis://127.0.0.1:{silent_server}/0"))
    started = time.monotonic()
    with pytest.raises(EnqueueError, match=r"within 0\.5 s"):
        dispatcher.enqueue("j1", timeout=0.5)
    assert time.monotonic() - started < 2
    dispatcher.close()


def test_enqueue_to_a_stopped_redis_fails_fast() -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    closed_port = port.getsockname()[1]
    port.close()
    dispatcher = HueyDispatcher(huey_from_url(f"redis://127.0.0.1:{closed_port}/0"))
    with pytest.raises(EnqueueError):
        dispatcher.enqueue("j1", timeout=5)
    dispatcher.close()
