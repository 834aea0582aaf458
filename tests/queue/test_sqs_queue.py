"""The SQS queue beyond the dispatcher contract (moto's server): a worker deletes a message only once
its task completed, so a message whose job raised or whose worker died comes back after the queue's
visibility timeout; bodies are JSON a Lambda worker reads too, and its batch reports failures per
message."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from bgremover.queue.factory import dispatcher_from_url
from bgremover.queue.huey_queue import HueyDispatcher, huey_from_url
from bgremover.queue.sqs import process_batch, queue_name_of, sqs_huey

VISIBILITY_S = 1


@pytest.fixture
def queue(aws_endpoint: str) -> str:
    """A queue whose received messages come back after one second unless deleted."""
    name = f"bgr-visibility-{time.monotonic_ns()}"
    boto3.client("sqs").create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY_S)})
    return name


@pytest.fixture
def api(queue: str) -> Iterator[HueyDispatcher]:
    dispatcher = dispatcher_from_url(f"sqs://{queue}")
    assert isinstance(dispatcher, HueyDispatcher)
    yield dispatcher
    dispatcher.close()


def worker(queue: str, handler: Any) -> HueyDispatcher:
    return HueyDispatcher(sqs_huey(f"sqs://{queue}", name="w", wait_s=0), handler)


def raw_bodies(queue: str) -> list[str]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [message["Body"] for message in answer.get("Messages", [])]


def test_a_job_message_is_plain_json(api: HueyDispatcher, queue: str) -> None:
    api.enqueue("job-1", timeout=5)
    assert raw_bodies(queue) == ['{"jobId":"job-1"}']


def test_a_completed_task_deletes_its_message_and_a_failed_one_comes_back(
    api: HueyDispatcher, queue: str
) -> None:
    seen: list[str] = []

    def handle(job_id: str) -> None:
        seen.append(job_id)
        if job_id == "bad":
            raise RuntimeError("the job raised")

    consumer = worker(queue, handle)
    api.enqueue("good", timeout=5)
    api.enqueue("bad", timeout=5)
    for _ in range(2):
        task = consumer.next_task()
        assert task is not None
        consumer.execute(task)
    assert sorted(seen) == ["bad", "good"]
    assert consumer.next_task() is None  # both in flight
    time.sleep(VISIBILITY_S + 0.5)
    again = consumer.next_task()
    assert again is not None and again.args == ("bad",)  # the completed one was deleted
    assert consumer.next_task() is None
    consumer.close()


def test_a_message_whose_worker_died_is_delivered_again(api: HueyDispatcher, queue: str) -> None:
    api.enqueue("j1", timeout=5)
    first = worker(queue, None).next_task()  # taken, never executed: the worker was killed
    assert first is not None
    time.sleep(VISIBILITY_S + 0.5)
    second = worker(queue, None).next_task()
    assert second is not None and second.args == ("j1",)


def test_a_message_naming_no_job_is_dropped_not_retried(queue: str, api: HueyDispatcher) -> None:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for body in ["not json", '{"jobId": 7}', "[]", '{"task": "os.system"}']:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    consumer = worker(queue, None)
    assert consumer.next_task() is None
    time.sleep(VISIBILITY_S + 0.5)
    assert raw_bodies(queue) == []  # deleted, not waiting to come back


def test_an_argument_less_task_round_trips(queue: str) -> None:
    """The worker nodes' reaper tick travels through the queue as ``{"task": name}``."""
    ran: list[str] = []
    consumer = worker(queue, None)
    tick = consumer.huey.task(name="reap")(lambda: ran.append("reap"))
    consumer.huey.enqueue(tick.s())
    assert [json.loads(body)["task"] for body in raw_bodies(queue)] == [f"{__name__}.reap"]
    task = consumer.next_task()
    assert task is not None
    consumer.execute(task)
    assert ran == ["reap"]
    time.sleep(VISIBILITY_S + 0.5)
    assert consumer.next_task() is None


def sqs_event(queue: str, count: int) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping builds it, from messages really received."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count)["Messages"]
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    return {"Records": records}


def test_a_lambda_batch_reports_only_the_messages_whose_job_raised(api: HueyDispatcher, queue: str) -> None:
    for job_id in ["a", "boom", "c"]:
        api.enqueue(job_id, timeout=5)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"], MessageBody="garbage")
    event = sqs_event(queue, 10)
    assert len(event["Records"]) == 4
    handled: list[str] = []

    def handle(job_id: str) -> None:
        handled.append(job_id)
        if job_id == "boom":
            raise RuntimeError("the job raised")

    response = process_batch(event, None, handle)
    assert sorted(handled) == ["a", "boom", "c"]
    failed = {record["messageId"] for record in event["Records"] if "boom" in record["body"]}
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == list(failed)


def test_queue_urls_are_checked() -> None:
    assert queue_name_of("sqs://bgr-jobs") == "bgr-jobs"
    for url in ["sqs://", "sqs://a/b", "sqs://jobs.fifo", "sqs:/x"]:
        with pytest.raises(ValueError, match="expected sqs://QUEUE_NAME"):
            queue_name_of(url)


def test_a_lambda_queue_has_no_worker_of_ours() -> None:
    with pytest.raises(ValueError, match="consumed by the Lambda worker"):
        huey_from_url("lambda://bgr-worker")
    with pytest.raises(ValueError, match="consumed by the Lambda worker"):
        dispatcher_from_url("lambda://bgr-worker", handler=print)
