"""A backend call the caller waits on for a bounded time, whatever the backend does.

Client libraries have their own timeouts, but not one bound on the whole call (connect, retries,
reads), and some have none at all; a submit must answer within ``BGR_ENQUEUE_TIMEOUT_S``. So the call
runs on a small thread pool and the caller waits at most ``timeout`` seconds for it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from bgremover.queue.base import EnqueueError


class BoundedCalls:
    def __init__(self, threads: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="enqueue")

    def run(self, call: Callable[[], object], *, timeout: float) -> None:
        """Run ``call``; ``EnqueueError`` when it raises or has not returned after ``timeout`` s (it
        then finishes, or times out by its own client's bounds, in the background)."""
        future = self._pool.submit(call)
        try:
            future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise EnqueueError(f"queue did not accept the job within {timeout:g} s") from None
        except Exception as exc:
            raise EnqueueError(f"queue rejected the job: {exc}") from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
