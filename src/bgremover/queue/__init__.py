"""The task queue: how the API hands a job to a worker."""

from bgremover.queue.base import Dispatcher, EnqueueError

__all__ = ["Dispatcher", "EnqueueError"]
