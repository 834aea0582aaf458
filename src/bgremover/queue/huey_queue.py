"""The dispatcher on Huey: SqliteHuey for ``sqlite:///PATH`` (embedded), RedisHuey for ``redis://``
(distributed), Huey on an SQS queue for ``sqs://QUEUE_NAME`` (AWS, :mod:`bgremover.queue.sqs`). Task code
never sees which: switching is a URL.

A message carries only a job id; the ledger holds everything else. The task is registered under a
fixed name in every process (API and workers), but only a worker passes the handler that runs it,
so the API imports nothing of the pipeline. The queue's own name is ``BGR_QUEUE_NAME``
(``QUEUE_NAME`` by default): two deployments sharing one Redis keep apart by it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey, Task
from huey.storage import SqliteStorage
from redis import ConnectionPool

from bgremover.queue.bounded import BoundedCalls

TASK_NAME = "process_job"
TASK_PATH = f"{__name__}.{TASK_NAME}"  # how Huey names the task in a message (module.name)
QUEUE_NAME = "bgremover"
_BACKEND_TIMEOUT_S = 5.0  # sqlite busy timeout / redis socket timeouts, below the enqueue bound


class _WalNormalSyncStorage(SqliteStorage):
    """WAL with ``synchronous=NORMAL``: a commit no longer waits for an fsync (8 ms -> 0.04 ms per
    enqueue here, and commits serialise on the write lock, so this bounds submit latency under
    concurrency). The database cannot be corrupted; a power loss may drop the latest messages, which
    the reaper re-enqueues from the ledger, the source of truth."""

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection.execute("pragma synchronous=1")
        return connection


def huey_from_url(url: str, *, name: str = QUEUE_NAME) -> Huey:
    """A Huey without result storage (results live in the ledger)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(
            name,
            filename=str(path),
            results=False,
            timeout=_BACKEND_TIMEOUT_S,
            storage_class=_WalNormalSyncStorage,
        )
    if url.startswith(("redis://", "rediss://", "unix://")):
        pool = ConnectionPool.from_url(
            url, socket_timeout=_BACKEND_TIMEOUT_S, socket_connect_timeout=_BACKEND_TIMEOUT_S
        )
        return RedisHuey(name, connection_pool=pool, results=False)
    if url.startswith("sqs://"):
        from bgremover.queue.sqs import sqs_huey  # boto3 is imported only where SQS is used

        return sqs_huey(url, name=name)
    if url.startswith("lambda://"):
        raise ValueError(
            "a lambda:// queue is consumed by the Lambda worker (bgremover.aws.worker.handler), not by "
            "bg-remover worker: give self-hosted workers sqs://QUEUE_NAME instead"
        )
    raise ValueError(
        f"unsupported queue URL for Huey (expected sqlite:///PATH, redis://... or sqs://QUEUE): {url!r}"
    )


JobHandler = Callable[[str], None]


class HueyDispatcher:
    """``Dispatcher`` on Huey. ``enqueue`` is bounded (:class:`BoundedCalls`): a hung backend costs
    the caller ``timeout`` seconds at most, never a hang."""

    def __init__(self, huey: Huey, handler: JobHandler | None = None, *, threads: int = 4) -> None:
        self.huey = huey
        self._handler = handler
        self._task = huey.task(name=TASK_NAME)(self._run)
        self._calls = BoundedCalls(threads)

    @classmethod
    def from_url(
        cls, url: str, handler: JobHandler | None = None, *, name: str = QUEUE_NAME
    ) -> HueyDispatcher:
        return cls(huey_from_url(url, name=name), handler)

    def _run(self, job_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("this process has no job handler: only workers execute jobs")
        self._handler(job_id)

    def enqueue(self, job_id: str, *, timeout: float) -> None:
        self._calls.run(lambda: self.huey.enqueue(self._task.s(job_id)), timeout=timeout)

    def depth(self) -> int:
        return int(self.huey.pending_count())

    def ping(self) -> None:
        self.huey.pending_count()

    def next_task(self) -> Task | None:
        """The next message for this worker, or ``None`` when the queue is empty (workers poll)."""
        return self.huey.dequeue()

    def execute(self, task: Task) -> None:
        self.huey.execute(task)

    def close(self) -> None:
        self._calls.close()
