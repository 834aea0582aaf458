"""Turns ``BGR_QUEUE_URL`` into a dispatcher: Huey for ``sqlite:///PATH``, ``redis://...`` and
``sqs://QUEUE_NAME``; an asynchronous Lambda invocation for ``lambda://FUNCTION`` (sending only: the
function consumes, so a worker given that URL is refused by :func:`huey_from_url`)."""

from __future__ import annotations

from bgremover.queue.base import Dispatcher
from bgremover.queue.huey_queue import QUEUE_NAME, HueyDispatcher, JobHandler


def dispatcher_from_url(url: str, handler: JobHandler | None = None, *, name: str = QUEUE_NAME) -> Dispatcher:
    """Only workers pass ``handler``, the code that runs a job taken from the queue."""
    if url.startswith("lambda://") and handler is None:
        from bgremover.queue.lambda_invoke import LambdaInvokeDispatcher  # boto3 only where used

        return LambdaInvokeDispatcher.from_url(url)
    return HueyDispatcher.from_url(url, handler, name=name)
