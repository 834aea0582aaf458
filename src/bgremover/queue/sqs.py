"""The queue on Amazon SQS (``BGR_QUEUE_URL=sqs://QUEUE_NAME``), sent to and consumed twice.

- Sending, and ``bg-remover worker``: :class:`SqsHuey`, a Huey whose storage (:class:`SqsStorage`)
  is the SQS queue, so the API's bounded enqueue and the worker's consumer (process
  workers, recycling, watchdog, reaper tick, SIGTERM/SIGINT) are the same code as on SQLite or Redis.
  A worker long-polls (``ReceiveMessage`` waits up to ``RECEIVE_WAIT_S``) and deletes a message only
  once Huey reports its task complete. A message whose worker died reappears after the queue's
  visibility timeout; the ledger's claim, not the queue, decides whether it still has work to do.
- The Lambda worker: :func:`process_batch` handles an SQS event's records and reports failures per
  message (Powertools' batch utility), so SQS redelivers only the messages whose job raised.

Bodies are JSON (:mod:`bgremover.queue.message`), never pickles: a job is ``{"jobId": "..."}``, the
worker nodes' reaper tick ``{"task": "<Huey task>"}``. Standard queues only: SQS may deliver a
message twice and out of order, which the claim makes harmless. The endpoint, region and credentials
are boto3's own configuration (``AWS_ENDPOINT_URL_SQS`` or ``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``),
so the same URL reaches AWS, LocalStack or moto.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config
from huey import Huey
from huey.exceptions import HueyException
from huey.registry import Message
from huey.serializer import Serializer
from huey.signals import SIGNAL_COMPLETE
from huey.storage import MemoryStorage

from bgremover.observability.logging import get_logger
from bgremover.queue.huey_queue import TASK_PATH
from bgremover.queue.message import job_id_of, job_message

log = get_logger(__name__)

RECEIVE_WAIT_S = 10  # a long poll: an idle worker asks SQS a few times a minute, not every second
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
TASK = "task"


def queue_name_of(url: str) -> str:
    name = url.removeprefix("sqs://")
    if not url.startswith("sqs://") or not _QUEUE_NAME.match(name):
        raise ValueError(f"unsupported SQS queue URL (expected sqs://QUEUE_NAME, a standard queue): {url!r}")
    return name


def sqs_client(read_timeout_s: float) -> Any:
    """An SQS client whose calls end: connect and read timeouts (a read outlasts a long poll), few
    retries. From a session of its own: boto3's default session is not safe to use from two threads,
    and the API's enqueue threads may make the first client at the same time."""
    config = Config(
        connect_timeout=5, read_timeout=read_timeout_s, retries={"max_attempts": 3, "mode": "standard"}
    )
    return boto3.session.Session().client("sqs", config=config)


def _decode(body: str) -> dict[str, Any]:
    """A received body as the Huey task it asks for; ``ValueError`` for a body that is neither."""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError("a message is a JSON object")
    if isinstance(parsed.get(TASK), str):
        return {TASK: parsed[TASK], "args": []}
    return {TASK: TASK_PATH, "args": [job_id_of(parsed)]}


class SqsStorage(MemoryStorage):
    """A Huey storage whose queue is an SQS queue (schedule, locks and results stay in memory: this
    service uses none of them across processes). The client is made in the process that uses it,
    since Huey forks its workers after building the storage."""

    blocking = True  # dequeue long-polls: the worker need not sleep between empty answers

    def __init__(self, name: str = "huey", *, queue_name: str, wait_s: int = RECEIVE_WAIT_S) -> None:
        super().__init__(name)
        self.queue_name = queue_name
        self.wait_s = wait_s
        self._client_pid: int | None = None
        self._client: Any = None
        self._queue_url: str | None = None
        self._receipts: dict[str, str] = {}
        self._receipts_lock = threading.Lock()  # taken by worker processes only, never before a fork

    @property
    def client(self) -> Any:
        if self._client_pid != os.getpid():
            self._client, self._client_pid = sqs_client(self.wait_s + 10), os.getpid()
        return self._client

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        return self._queue_url

    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=data.decode())

    def dequeue(self) -> bytes | None:
        """The next message as ``{"id", "task", "args"}`` for :class:`JobMessageSerializer`; its receipt
        is kept until :meth:`ack`. A body that asks for nothing is deleted (a poison message) and the
        next one read."""
        while True:
            answer = self.client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=self.wait_s
            )
            if not answer.get("Messages"):
                return None
            received = answer["Messages"][0]
            try:
                task = _decode(received["Body"])
            except ValueError as exc:
                log.warning("queue_message_dropped", queue=self.queue_name, error=str(exc))
                self._delete(received["ReceiptHandle"])
                continue
            with self._receipts_lock:
                self._receipts[received["MessageId"]] = received["ReceiptHandle"]
            return json.dumps({"id": received["MessageId"], **task}).encode()

    def ack(self, message_id: str) -> None:
        """Delete a received message: its task is done (a no-op for a task that came from elsewhere)."""
        with self._receipts_lock:
            receipt = self._receipts.pop(message_id, None)
        if receipt is not None:
            self._delete(receipt)

    def _delete(self, receipt: str) -> None:
        try:
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except Exception as exc:  # redelivered after the visibility timeout: the claim dedupes it
            log.warning("queue_message_not_deleted", queue=self.queue_name, error=str(exc))

    def queue_size(self) -> int:
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def flush_queue(self) -> None:
        self.client.purge_queue(QueueUrl=self.queue_url)


class JobMessageSerializer(Serializer):
    """Huey messages as SQS bodies: the job task becomes ``{"jobId": ...}``, another argument-less task
    ``{"task": name}``. What it reads back is :meth:`SqsStorage.dequeue`'s ``{"id", "task", "args"}``:
    the SQS message id becomes the Huey task id, so that completion deletes that very message."""

    def _serialize(self, data: Message) -> bytes:
        if data.name == TASK_PATH:
            return job_message(data.args[0]).encode()
        if data.args or data.kwargs:
            raise ValueError(f"an SQS message carries a job id or an argument-less task, not {data.name}")
        return json.dumps({TASK: data.name}).encode()

    def _deserialize(self, data: bytes) -> Message:
        received = json.loads(data)
        fields: dict[str, Any] = dict.fromkeys(Message._fields)
        fields.update(id=received["id"], name=received[TASK], args=tuple(received["args"]), kwargs={})
        fields.update(retries=0, retry_delay=0, retry_backoff=0)
        return Message(**fields)


class SqsHuey(Huey):
    """Huey on an SQS queue: JSON bodies, and each message deleted once its task completed. A message
    asking for a task this process has no code for is deleted too (logged), instead of coming back
    after every visibility timeout."""

    storage_class = SqsStorage
    storage: SqsStorage

    def __init__(self, name: str, *, queue_name: str, wait_s: int = RECEIVE_WAIT_S) -> None:
        super().__init__(
            name, results=False, serializer=JobMessageSerializer(), queue_name=queue_name, wait_s=wait_s
        )
        self.signal(SIGNAL_COMPLETE)(self._delete_completed)

    def _delete_completed(self, signal: str, task: Any) -> None:
        self.storage.ack(task.id)

    def dequeue(self) -> Any:
        data = self.storage.dequeue()
        if data is None:
            return None
        try:
            return self.deserialize_task(data)
        except HueyException as exc:
            log.warning("queue_message_dropped", queue=self.storage.queue_name, error=str(exc))
            self.storage.ack(json.loads(data)["id"])
            return None


def sqs_huey(url: str, *, name: str, wait_s: int = RECEIVE_WAIT_S) -> SqsHuey:
    """Huey on the queue that ``url`` names."""
    return SqsHuey(name, queue_name=queue_name_of(url), wait_s=wait_s)


def process_batch(event: dict[str, Any], context: Any, handle_job: Callable[[str], None]) -> dict[str, Any]:
    """An SQS event for the Lambda worker: each record's job handled in turn; the records whose job
    raised come back in ``batchItemFailures`` (the event source mapping needs
    ``ReportBatchItemFailures``), so SQS redelivers those alone. A body naming no job is logged and
    acknowledged, never retried forever; a reaper tick is acknowledged (the scheduled reaper runs it)."""

    def handle(record: SQSRecord) -> None:
        try:
            task = _decode(record.body)
        except ValueError as exc:
            log.warning("queue_message_dropped", message_id=record.message_id, error=str(exc))
            return
        if task[TASK] == TASK_PATH:
            handle_job(task["args"][0])

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
