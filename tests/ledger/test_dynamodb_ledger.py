"""What only the DynamoDB ledger has to prove: its table is created once however many processes start
together, no item grows with the image count, no question is answered by a ``Scan``, and expiring
items carry their TTL (moto's server; the behaviour every ledger shares is tested beside this)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bgremover.ledger import (
    IdempotencyConflictError,
    ImageOutcome,
    ImageStatus,
    JobType,
    LeaseLostError,
    NewImage,
    NewJob,
)
from bgremover.ledger.base import ApiKeyRecord
from bgremover.ledger.dynamodb import DynamoDbJobLedger, chunk_key, job_key
from bgremover.ledger.dynamodb_table import INDEXES, TTL_ATTRIBUTE, Table, Write, serialize

MAX_ITEM_BYTES = 400 * 1024


def _images(job_id: str, count: int) -> list[NewImage]:
    return [
        NewImage(
            f"img-{i:04d}", f"product-photo-{i:04d}.jpg", f"acme/{job_id}/img-{i:04d}", "image/jpeg", 10**6
        )
        for i in range(count)
    ]


def _item_bytes(item: dict[str, Any]) -> int:
    """An upper bound of DynamoDB's item size (names plus values, as stored)."""
    return sum(len(name) + len(json.dumps(value)) for name, value in item.items())


def test_racing_starters_create_the_table_once_with_its_indexes_and_ttl(dynamodb_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            DynamoDbJobLedger.from_url(dynamodb_url).ping()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    client, table = boto3.client("dynamodb"), dynamodb_url.removeprefix("dynamodb://")
    described = client.describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert sorted(index["IndexName"] for index in described["GlobalSecondaryIndexes"]) == sorted(
        name for name, *_ in INDEXES
    )
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)
    DynamoDbJobLedger.from_url(dynamodb_url).migrate()  # and again: a no-op


def test_without_migrate_a_missing_table_is_not_created(dynamodb_url: str) -> None:
    ledger = DynamoDbJobLedger.from_url(dynamodb_url, migrate=False)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        ledger.ping()


def test_a_job_of_1000_images_keeps_every_item_far_under_the_limit(dynamodb_url: str) -> None:
    ledger = DynamoDbJobLedger.from_url(dynamodb_url)
    job_id = uuid.uuid4().hex
    ledger.create_job(NewJob(job_id, "acme", JobType.GROUP_IMAGES, _images(job_id, 1000)))
    assert ledger.claim(job_id, "w", 60) is not None
    ids = [f"img-{i:04d}" for i in range(1000)]
    for image_id in ids[:3]:
        outputs = {"thumbnail": f"acme/{job_id}/{image_id}/thumbnail.webp"}
        ledger.record_image(job_id, "w", image_id, ImageOutcome(ImageStatus.SUCCEEDED, outputs=outputs))
    one_big_group = {"groupId": "group-0001", "imageIds": ids, "representativeImageId": ids[0]}
    singletons = [
        {"groupId": f"group-{n:04d}", "imageIds": [image_id], "representativeImageId": image_id}
        for n, image_id in enumerate(ids, start=2)
    ]
    result = {"succeeded": 1000, "failed": 0, "groups": [one_big_group, *singletons]}
    ledger.succeed(job_id, "w", result)

    job = ledger.get_job("acme", job_id)
    assert job is not None and job.result == result
    assert [image.image_id for image in ledger.list_images("acme", job_id)] == ids
    client, table = boto3.client("dynamodb"), dynamodb_url.removeprefix("dynamodb://")
    sizes: dict[str, int] = {}
    pages = client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{job_id}"}},
    )
    for item in (item for page in pages for item in page["Items"]):
        kind = item["sk"]["S"].split("#")[0] or "job"
        sizes[kind] = max(sizes.get(kind, 0), _item_bytes(item))
    assert sizes["job"] < 4_000  # the job item does not grow with its images or groups
    assert sizes["IMG"] < 1_000
    assert sizes["GRP"] < 40_000 < MAX_ITEM_BYTES  # the largest: one group of all 1,000 images


def test_no_question_is_answered_by_a_scan(dynamodb_url: str) -> None:
    ledger = DynamoDbJobLedger.from_url(dynamodb_url)
    calls: list[str] = []
    ledger._db.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    now = datetime.now(UTC)
    job_id = uuid.uuid4().hex
    ledger.create_job(NewJob(job_id, "acme", JobType.GROUP_IMAGES, _images(job_id, 2), idempotency_key="k"))
    ledger.find_idempotent_job("acme", "k")
    ledger.count_active_jobs("acme")
    ledger.images_submitted_since("acme", now - timedelta(days=30))
    ledger.list_jobs("acme")
    ledger.claim(job_id, "w", 60)
    ledger.finish_stage(job_id, "w", "decode", 1.0)
    ledger.record_image(job_id, "w", "img-0000", ImageOutcome(ImageStatus.SUCCEEDED))
    ledger.succeed(job_id, "w", {"groups": []}, notify=True)
    ledger.reclaimable(queued_before=now)
    ledger.count_by_status()
    ledger.oldest_created_at(ledger.get_job("acme", job_id).status)  # type: ignore[union-attr]
    delivery = ledger.claim_webhook_delivery("s", 30)
    assert delivery is not None
    ledger.record_webhook_attempt(delivery.delivery_id, "s", error=None)
    ledger.purge_webhook_deliveries(now + timedelta(days=1))
    keys = ledger.key_store()
    keys.add(ApiKeyRecord("kid", "acme", "0" * 64, "", now))
    keys.active_keys()
    keys.list_keys("acme")
    assert "Query" in calls and "TransactWriteItems" in calls
    assert "Scan" not in calls


def test_an_idempotency_key_expires_by_ttl_and_is_ignored_before_ttl_deletes_it(dynamodb_url: str) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    ledger = DynamoDbJobLedger.from_url(dynamodb_url, clock=lambda: now[0])
    job_id = uuid.uuid4().hex
    new = NewJob(job_id, "acme", JobType.GROUP_IMAGES, _images(job_id, 1), idempotency_key="order-7")
    ledger.create_job(new)
    client, table = boto3.client("dynamodb"), dynamodb_url.removeprefix("dynamodb://")
    item = client.get_item(TableName=table, Key={"pk": {"S": "IDEM#acme#order-7"}, "sk": {"S": "#IDEM"}})
    expires = datetime.fromtimestamp(int(item["Item"][TTL_ATTRIBUTE]["N"]), UTC)
    assert expires == now[0] + timedelta(hours=24)
    now[0] += timedelta(hours=25)  # expired; TTL has not deleted the item (moto never does)
    assert ledger.find_idempotent_job("acme", "order-7") is None
    second = NewJob(uuid.uuid4().hex, "acme", JobType.GROUP_IMAGES, [], idempotency_key="order-7")
    job, created = ledger.create_job(second)
    assert created and job.job_id == second.job_id


def test_a_stale_attempts_groups_are_never_read_nor_left_behind(dynamodb_url: str) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    ledger = DynamoDbJobLedger.from_url(dynamodb_url, clock=lambda: now[0])
    job_id = uuid.uuid4().hex
    ledger.create_job(NewJob(job_id, "acme", JobType.GROUP_IMAGES, _images(job_id, 2)))
    assert ledger.claim(job_id, "w1", 30) is not None
    now[0] += timedelta(seconds=31)
    assert ledger.claim(job_id, "w2", 30) is not None
    stale = {"groups": [{"groupId": "group-0001", "imageIds": ["img-0000", "img-0001"]}]}
    with pytest.raises(LeaseLostError):
        ledger.succeed(job_id, "w1", stale)
    client, table = boto3.client("dynamodb"), dynamodb_url.removeprefix("dynamodb://")
    partition = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :groups)",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{job_id}"}, ":groups": {"S": "GRP#"}},
    )
    assert partition["Items"] == []
    fresh = {"groups": [{"groupId": f"group-{n:04d}", "imageIds": [f"img-{n:04d}"]} for n in range(2)]}
    ledger.succeed(job_id, "w2", fresh)
    job = ledger.get_job("acme", job_id)
    assert job is not None and job.result == fresh


def test_a_replayed_or_refused_submit_leaves_no_image_items(dynamodb_url: str) -> None:
    ledger = DynamoDbJobLedger.from_url(dynamodb_url)
    first = NewJob(
        "job-1",
        "acme",
        JobType.GROUP_IMAGES,
        _images("job-1", 3),
        idempotency_key="k",
        request_fingerprint="A",
    )
    ledger.create_job(first)
    replay = NewJob(
        "job-2",
        "acme",
        JobType.GROUP_IMAGES,
        _images("job-2", 3),
        idempotency_key="k",
        request_fingerprint="A",
    )
    job, created = ledger.create_job(replay)
    assert (job.job_id, created) == ("job-1", False)
    with pytest.raises(IdempotencyConflictError):
        ledger.create_job(
            NewJob(
                "job-3",
                "acme",
                JobType.GROUP_IMAGES,
                _images("job-3", 3),
                idempotency_key="k",
                request_fingerprint="B",
            )
        )
    client, table = boto3.client("dynamodb"), dynamodb_url.removeprefix("dynamodb://")
    for job_id in ("job-2", "job-3"):
        partition = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"JOB#{job_id}"}},
        )
        assert partition["Items"] == []
    assert len(ledger.list_images("acme", "job-1")) == 3


def test_a_tenant_named_like_an_overloaded_partition_sees_only_its_jobs(dynamodb_url: str) -> None:
    ledger = DynamoDbJobLedger.from_url(dynamodb_url)
    ledger.key_store().add(ApiKeyRecord("kid", "keys", "0" * 64, "", datetime.now(UTC)))
    ledger.create_job(NewJob("job-1", "keys", JobType.GROUP_IMAGES, _images("job-1", 2)))
    assert [job.job_id for job in ledger.list_jobs("keys")] == ["job-1"]
    assert ledger.images_submitted_since("keys", datetime(2000, 1, 1, tzinfo=UTC)) == 2
    assert [record.key_id for record in ledger.key_store().list_keys("keys")] == ["kid"]


def test_hundreds_of_chunks_open_over_several_transactions_and_a_half_opened_job_is_completed(
    dynamodb_url: str,
) -> None:
    """TransactWriteItems takes 100 items: a job of 250 one-image chunks is opened in 3. The plan
    (its chunk size) is stored on the job item with the first, so a coordinator that died half-way is
    followed by one that writes the missing chunks with the first one's size, whatever its own; and
    every chunk item stays small, its stage totals included, with no question answered by a Scan."""
    ledger = DynamoDbJobLedger.from_url(dynamodb_url)
    calls: list[str] = []
    ledger._db.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    job_id = uuid.uuid4().hex
    ledger.create_job(NewJob(job_id, "acme", JobType.GROUP_IMAGES, _images(job_id, 250)))
    ledger.claim(job_id, "coordinator", 60)
    opened = ledger.open_chunks(job_id, "coordinator", 1)
    assert [(c.index, c.start, c.stop) for c in opened] == [(i, i, i + 1) for i in range(250)]
    assert ledger.list_chunks(job_id) == opened

    client, table = boto3.client("dynamodb"), dynamodb_url.removeprefix("dynamodb://")
    for index in range(99, 250):  # as if its opener died after its first transaction
        client.delete_item(TableName=table, Key=serialize(chunk_key(job_id, index)))
    assert len(ledger.list_chunks(job_id)) == 99
    ledger.claim(job_id, "coordinator", 60)  # still its lease (renewed)
    assert ledger.open_chunks(job_id, "coordinator", 50) == opened

    chunk = ledger.claim_chunk(job_id, "w", 30)
    assert chunk is not None and chunk.index == 0
    stages = {name: {"ms": 123456.789, "images": 50} for name in STAGE_NAMES}
    ledger.heartbeat_chunk(job_id, 0, "w", 30, done=1)
    ledger.finish_chunk(job_id, 0, "w", stages)
    item = client.get_item(TableName=table, Key=serialize(chunk_key(job_id, 0)))["Item"]
    assert _item_bytes(item) < 1_000
    job_item = client.get_item(TableName=table, Key=serialize(job_key(job_id)))["Item"]
    assert _item_bytes(job_item) < 4_000
    assert "Scan" not in calls


STAGE_NAMES = ("upload", "decode", "thumbnail", "cutout", "mask", "descriptors", "grouping", "outputs")


def test_a_plain_write_that_meets_a_transaction_is_tried_again() -> None:
    """DynamoDB refuses an UpdateItem on an item inside an ongoing transaction, and botocore does not
    retry it: a coordinator renewing its job's lease while chunk workers check that item would fail."""
    conflict = ClientError({"Error": {"Code": "TransactionConflictException"}}, "UpdateItem")
    refused = ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")
    throttled = ClientError({"Error": {"Code": "ValidationException"}}, "UpdateItem")

    class Client:
        def __init__(self, answers: list[Any]) -> None:
            self.answers = answers
            self.calls = 0

        def update_item(self, **_: Any) -> dict[str, Any]:
            self.calls += 1
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    write = Write({"pk": "JOB#j", "sk": "#JOB"}, sets={"x": 1})
    client = Client([conflict, conflict, {"Attributes": {"x": {"N": "1"}}}])
    assert Table(client, "t").update(write) == {"x": 1}
    assert client.calls == 3
    assert Table(Client([conflict, refused]), "t").update(write) is None
    with pytest.raises(ClientError, match="ValidationException"):
        Table(Client([throttled]), "t").update(write)
    with pytest.raises(ClientError, match="TransactionConflict"):
        Table(Client([conflict] * 5), "t").update(write)
