"""The DynamoDB ledger's table: its creation, and the few helpers every write to it shares.

The design itself (keys, indexes, item sizes) is written down in ``bgremover.ledger.dynamodb``. Here:
times as integer microseconds since the epoch (exact round trip, numeric comparison in conditions and
index sort keys), JSON documents as strings (no float/Decimal conversion, sizes easy to bound), and
``Write``, one conditional update expression built from plain Python values.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Global secondary indexes: (name, partition key, sort key, sort key type, projection).
INDEXES: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    # Only attributes that never or seldom change are projected, so the frequent writes to a running
    # job (heartbeats, progress, stages) cost no index write: a listing reads the items by key.
    (
        "by-tenant",
        "tenant_pk",
        "tenant_sk",
        "S",
        {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": [
                *("tenant_id", "status", "type", "progress_total", "attempts", "created_at"),
                *("key_id", "digest", "label", "revoked_at"),
            ],
        },
    ),
    (
        "by-due",
        "due_pk",
        "due_at",
        "N",
        {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["job_id", "created_at"]},
    ),
    ("by-age", "age_pk", "created_at", "N", {"ProjectionType": "KEYS_ONLY"}),
    ("by-active-tenant", "active_tenant", "created_at", "N", {"ProjectionType": "KEYS_ONLY"}),
)
_BATCH = 25  # BatchWriteItem's limit
_BATCH_GET = 100  # BatchGetItem's
_CONFLICT_RETRIES = 5
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes the item some time after


def micros(value: datetime) -> int:
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: Any) -> datetime | None:
    return None if value is None else EPOCH + int(value) * _MICROSECOND


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """A Python item as DynamoDB's typed JSON; ``None`` values are left out (absent attributes)."""
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


@dataclass(slots=True)
class Write:
    """One conditional update of one item: ``sets`` (a ``None`` value removes the attribute),
    ``adds`` (numeric increments), ``copies`` (attribute from attribute), and a condition whose
    ``#name`` placeholders are attribute names and whose ``:value`` placeholders come from
    ``values``."""

    key: dict[str, str]
    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, int] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)
    if_absent: dict[str, Any] = field(default_factory=dict)  # set only where missing
    condition: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def params(self, table: str) -> dict[str, Any]:
        names: dict[str, str] = {}
        values = dict(self.values)

        def name(attribute: str) -> str:
            names[f"#{attribute}"] = attribute
            return f"#{attribute}"

        assignments = []
        for attribute, value in self.sets.items():
            if value is not None:
                values[f":set_{attribute}"] = value
                assignments.append(f"{name(attribute)} = :set_{attribute}")
        for attribute, source in self.copies.items():
            assignments.append(f"{name(attribute)} = {name(source)}")
        for attribute, value in self.if_absent.items():
            values[f":new_{attribute}"] = value
            assignments.append(f"{name(attribute)} = if_not_exists({name(attribute)}, :new_{attribute})")
        clauses = [f"SET {', '.join(assignments)}"] if assignments else []
        removals = [name(attribute) for attribute, value in self.sets.items() if value is None]
        if removals:
            clauses.append(f"REMOVE {', '.join(removals)}")
        if self.adds:
            for attribute, step in self.adds.items():
                values[f":add_{attribute}"] = step
            clauses.append("ADD " + ", ".join(f"{name(a)} :add_{a}" for a in self.adds))
        params: dict[str, Any] = {
            "TableName": table,
            "Key": serialize(self.key),
            "UpdateExpression": " ".join(clauses),
        }
        if self.condition is not None:
            for attribute in re.findall(r"#(\w+)", self.condition):
                names[f"#{attribute}"] = attribute
            params["ConditionExpression"] = self.condition
        params["ExpressionAttributeNames"] = names
        if values:
            params["ExpressionAttributeValues"] = serialize(values)
        return params


def condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _transaction_conflict(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "TransactionConflictException"


def cancellation_codes(error: ClientError) -> list[str] | None:
    """Why each item of a canceled transaction failed (``ConditionalCheckFailed``, ``None``, ...);
    ``None`` when ``error`` is not a canceled transaction."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def create_table(client: Any, table: str, *, wait_s: float = 60.0) -> None:
    """Create the table, its indexes and its TTL when missing; on-demand capacity. Idempotent, and
    safe when several processes start at once: the loser of the race waits for the winner's table."""
    try:
        client.describe_table(TableName=table)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        _create(client, table)
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": int(wait_s)}
    )
    _enable_ttl(client, table)


def _create(client: Any, table: str) -> None:
    key_types = {"pk": "S", "sk": "S"}
    for _, partition, sort, sort_type, _ in INDEXES:
        key_types[partition] = "S"
        key_types[sort] = sort_type
    try:
        client.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in key_types.items()],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": partition, "KeyType": "HASH"},
                        {"AttributeName": sort, "KeyType": "RANGE"},
                    ],
                    "Projection": projection,
                }
                for index, partition, sort, _, projection in INDEXES
            ],
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":  # another starter won
            raise


def _enable_ttl(client: Any, table: str) -> None:
    status = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if status.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        return
    try:
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
    except ClientError as error:  # a racing starter enabled it first
        if "already enabled" not in str(error) and "ongoing" not in str(error).lower():
            raise


def epoch_seconds(value: datetime) -> int:
    """A TTL value: DynamoDB's TTL reads whole epoch seconds."""
    return int((value - EPOCH).total_seconds())


class Table:
    """One table through a boto3 client: consistent reads, queries that page, and writes that say
    whether their condition held instead of raising."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def get(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.name, Key=serialize(key), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else deserialize(item)

    def get_many(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        """The items at ``keys`` that exist, in the order of ``keys`` (consistent reads, 100 a request;
        keys DynamoDB leaves unprocessed are asked again)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH_GET):
            request = [serialize(key) for key in keys[start : start + _BATCH_GET]]
            pending: dict[str, Any] = {self.name: {"Keys": request, "ConsistentRead": True}}
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self.name, []):
                    plain = deserialize(item)
                    found[plain["pk"], plain["sk"]] = plain
                pending = response.get("UnprocessedKeys") or {}
        return [found[key["pk"], key["sk"]] for key in keys if (key["pk"], key["sk"]) in found]

    def query(self, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item a query matches, page after page as they are consumed; with ``Limit``, the
        first page only (at most that many items)."""
        params = {"TableName": self.name, **params}
        while True:
            response = self.client.query(**params)
            for item in response.get("Items", []):
                yield deserialize(item)
            if "LastEvaluatedKey" not in response or "Limit" in params:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def count(self, index: str, attribute: str, value: str) -> int:
        """How many items of ``index`` have ``attribute`` = ``value`` (keys only are read)."""
        params: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": index,
            "KeyConditionExpression": f"{attribute} = :value",
            "ExpressionAttributeValues": serialize({":value": value}),
            "Select": "COUNT",
        }
        total = 0
        while True:
            response = self.client.query(**params)
            total += int(response["Count"])
            if "LastEvaluatedKey" not in response:
                return total
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def update(self, write: Write, **extra: Any) -> dict[str, Any] | None:
        """The item as written (``ReturnValues`` in ``extra``), or ``None`` when the condition failed.
        A write that meets a transaction on the same item is refused by DynamoDB, and botocore does
        not retry that (``TransactionConflictException``): it is tried again here, as ``transact``
        does. A big job's chunk writes check its job item in transactions while the coordinator
        renews the job's lease with plain updates, so they meet."""
        params = write.params(self.name)
        for attempt in range(_CONFLICT_RETRIES):
            try:
                response = self.client.update_item(**params, **extra)
            except ClientError as error:
                if condition_failed(error):
                    return None
                if not _transaction_conflict(error) or attempt == _CONFLICT_RETRIES - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
                continue
            return deserialize(response.get("Attributes", {}))
        raise AssertionError("unreachable")

    def transact(self, actions: list[dict[str, Any]]) -> list[str] | None:
        """All of ``actions`` or none: ``None`` when they applied, else each one's cancellation code
        (``ConditionalCheckFailed`` where a condition failed). A retried request carries the same
        ``ClientRequestToken`` (one per call), so DynamoDB applies it once; a conflict with another
        transaction on the same items is tried again."""
        token = str(uuid.uuid4())
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self.client.transact_write_items(TransactItems=actions, ClientRequestToken=token)
                return None
            except ClientError as error:
                codes = cancellation_codes(error)
                if codes is None:
                    raise
                if "TransactionConflict" not in codes or attempt == _CONFLICT_RETRIES - 1:
                    return codes
                time.sleep(0.01 * 2**attempt)
                token = str(uuid.uuid4())  # a new try after a refusal is a new request
        raise AssertionError("unreachable")

    def batch_write(self, requests: list[dict[str, Any]]) -> None:
        """Puts and deletes, 25 to a request; those DynamoDB leaves unprocessed are sent again."""
        for start in range(0, len(requests), _BATCH):
            pending: dict[str, Any] = {self.name: requests[start : start + _BATCH]}
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
