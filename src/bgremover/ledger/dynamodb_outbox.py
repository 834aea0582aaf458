"""The webhook outbox on DynamoDB: the outbox side of ``DynamoDbJobLedger``.

A delivery is an item of its own (``DLV#{delivery_id}``), put in the same transaction as the job's
final state, so a state and its announcement commit together or not at all. Senders find due
deliveries on the ``by-due`` index (``dlv#pending``, due at the later of the next attempt and the
current sender's lease) and take one with a conditional update, like a job claim: two senders never
hold the same attempt. Ended deliveries move to ``dlv#ended`` at their last due time, where the
reaper's retention purge finds them; the ``by-tenant`` index (``dlv#{job_id}``) lists a job's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bgremover.ledger.announcement import event_for_status, event_payload, new_delivery_id
from bgremover.ledger.base import DeliveryStatus, WebhookDelivery
from bgremover.ledger.dynamodb_table import Table, Write, dumps, from_micros, loads, micros, serialize

_CANDIDATES = 8  # due deliveries looked at per claim: enough to get past those other senders just took
_PENDING, _ENDED = "dlv#pending", "dlv#ended"


def _key(delivery_id: str) -> dict[str, str]:
    return {"pk": f"DLV#{delivery_id}", "sk": "#DLV"}


class DynamoDbWebhookOutbox:
    """A mixin: it shares the ledger's table and clock."""

    _db: Table
    _now: Callable[[], datetime]

    def _delivery_put(self, job_id: str, tenant_id: str, status: str, now: datetime) -> dict[str, Any]:
        """The transaction action that queues the webhook announcing ``job_id``'s final ``status``."""
        delivery_id = new_delivery_id()
        created = micros(now)
        item = {
            **_key(delivery_id),
            "delivery_id": delivery_id,
            "job_id": job_id,
            "tenant_id": tenant_id,
            "event": event_for_status(status).value,
            "payload": dumps(event_payload(job_id, tenant_id, status, now)),
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": created,
            "created_at": created,
            "updated_at": created,
            "tenant_pk": f"dlv#{job_id}",
            "tenant_sk": f"{created:020d}#{delivery_id}",
            "due_pk": _PENDING,
            "due_at": created,
        }
        return {"Put": {"TableName": self._db.name, "Item": serialize(item)}}

    def claim_webhook_delivery(self, owner: str, lease_seconds: float) -> WebhookDelivery | None:
        now = micros(self._now())
        expires = now + int(lease_seconds * 1_000_000)
        due = self._db.query(
            IndexName="by-due",
            KeyConditionExpression="due_pk = :pending AND due_at <= :now",
            ExpressionAttributeValues=serialize({":pending": _PENDING, ":now": now}),
            Limit=_CANDIDATES,
        )
        for candidate in list(due)[:_CANDIDATES]:
            taken = self._db.update(
                Write(
                    {"pk": candidate["pk"], "sk": candidate["sk"]},
                    sets={
                        "lease_owner": owner,
                        "lease_expires_at": expires,
                        "due_at": expires,
                        "updated_at": now,
                    },
                    condition=(
                        "#status = :pending AND #next_attempt_at <= :now AND "
                        "(attribute_not_exists(#lease_expires_at) OR #lease_expires_at < :now)"
                    ),
                    values={":pending": DeliveryStatus.PENDING.value, ":now": now},
                ),
                ReturnValues="ALL_NEW",
            )
            if taken is not None:
                return _delivery(taken)
        return None

    def record_webhook_attempt(
        self, delivery_id: str, owner: str, *, error: str | None, retry_at: datetime | None = None
    ) -> bool:
        now = micros(self._now())
        sets: dict[str, Any] = {
            "last_error": error,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        copies: dict[str, str] = {}
        if error is None:
            sets.update(status=DeliveryStatus.DELIVERED.value, delivered_at=now, due_pk=_ENDED)
            copies["due_at"] = "next_attempt_at"
        elif retry_at is None:
            sets.update(status=DeliveryStatus.FAILED.value, due_pk=_ENDED)
            copies["due_at"] = "next_attempt_at"
        else:
            sets.update(next_attempt_at=micros(retry_at), due_at=micros(retry_at))
        write = Write(
            _key(delivery_id),
            sets=sets,
            adds={"attempts": 1},
            copies=copies,
            condition="#lease_owner = :owner AND #status = :pending",
            values={":owner": owner, ":pending": DeliveryStatus.PENDING.value},
        )
        return self._db.update(write) is not None

    def drop_webhook_delivery(self, delivery_id: str, owner: str) -> bool:
        actions = [
            {
                "Delete": {
                    "TableName": self._db.name,
                    "Key": serialize(_key(delivery_id)),
                    "ConditionExpression": "#lease_owner = :owner AND #status = :pending",
                    "ExpressionAttributeNames": {"#lease_owner": "lease_owner", "#status": "status"},
                    "ExpressionAttributeValues": serialize(
                        {":owner": owner, ":pending": DeliveryStatus.PENDING.value}
                    ),
                }
            }
        ]
        return self._db.transact(actions) is None

    def purge_webhook_deliveries(self, due_before: datetime, *, limit: int = 1000) -> int:
        ended = self._db.query(
            IndexName="by-due",
            KeyConditionExpression="due_pk = :ended AND due_at < :before",
            ExpressionAttributeValues=serialize({":ended": _ENDED, ":before": micros(due_before)}),
            Limit=limit,
        )
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in list(ended)[:limit]]
        self._db.batch_write([{"DeleteRequest": {"Key": serialize(key)}} for key in keys])
        return len(keys)

    def webhook_delivery(self, tenant_id: str, job_id: str) -> WebhookDelivery | None:
        latest = self._db.query(
            IndexName="by-tenant",
            KeyConditionExpression="tenant_pk = :job",
            ExpressionAttributeValues=serialize({":job": f"dlv#{job_id}"}),
            ScanIndexForward=False,
            Limit=1,
        )
        found = self._db.get_many([{"pk": item["pk"], "sk": item["sk"]} for item in latest])
        return None if not found or found[0]["tenant_id"] != tenant_id else _delivery(found[0])

    def webhook_deliveries_of(self, job_id: str) -> list[WebhookDelivery]:
        listed = self._db.query(
            IndexName="by-tenant",
            KeyConditionExpression="tenant_pk = :job",
            ExpressionAttributeValues=serialize({":job": f"dlv#{job_id}"}),
        )
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in listed]
        return [_delivery(item) for item in self._db.get_many(keys)]


def _delivery(item: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=item["delivery_id"],
        job_id=item["job_id"],
        tenant_id=item["tenant_id"],
        event=item["event"],
        payload=loads(item["payload"]),
        status=DeliveryStatus(item["status"]),
        attempts=int(item["attempts"]),
        next_attempt_at=from_micros(item["next_attempt_at"]),  # type: ignore[arg-type]
        created_at=from_micros(item["created_at"]),  # type: ignore[arg-type]
        last_error=item.get("last_error"),
        delivered_at=from_micros(item.get("delivered_at")),
        lease_owner=item.get("lease_owner"),
    )
