"""The dispatcher port: hand a job id to some worker, within a bounded time.

The ledger, not the queue, is the source of truth: a queue message only says "look at job X". Losing
one is recoverable (the reaper re-enqueues), hanging the request path is not, so ``enqueue`` must
return or raise within ``timeout`` seconds whatever the backend does.
"""

from __future__ import annotations

from typing import Protocol


class EnqueueError(Exception):
    """The job could not be handed to the queue in time (backend down, slow or full)."""


class Dispatcher(Protocol):
    def enqueue(self, job_id: str, *, timeout: float) -> None:
        """Hand ``job_id`` to a worker; raise ``EnqueueError`` on failure or after ``timeout`` s."""
        ...

    def depth(self) -> int:
        """Messages waiting (for metrics and readiness)."""
        ...

    def ping(self) -> None:
        """Raise if the queue backend cannot be reached (readiness)."""
        ...

    def close(self) -> None:
        """Release threads and connections."""
        ...
