"""The webhook outbox: rows written in the same transaction as a job's final state, sent later.

A final state and its announcement commit together or not at all, so a crash between "job done" and
"webhook queued" cannot lose the webhook, and a webhook never announces a state that was rolled back.
Delivery is at least once: a sender claims a due row with a lease (one conditional UPDATE, like a job
claim), so two senders never send the same attempt at once; a sender that dies mid-attempt leaves a
lease that expires, and the attempt is made again (receivers deduplicate on ``webhook-id``, the row's
id, which never changes).

Portable SQL only, as in ``bgremover.ledger.sql``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Row

from bgremover.ledger.announcement import event_for_status, event_payload, new_delivery_id
from bgremover.ledger.base import DeliveryStatus, WebhookDelivery
from bgremover.ledger.schema import aware_utc, jobs, webhook_deliveries

_CANDIDATES = 8  # due rows looked at per claim: enough to get past rows other senders just took


def insert_delivery(
    conn: Connection, job_id: str, status: str, now: datetime, *, tenant_id: str | None = None
) -> str:
    """Queue the webhook announcing that ``job_id`` reached the final ``status``, inside the caller's
    transaction (the one that wrote that status). Returns the delivery id."""
    if tenant_id is None:
        tenant_id = conn.execute(select(jobs.c.tenant_id).where(jobs.c.job_id == job_id)).scalar_one()
    delivery_id = new_delivery_id()
    conn.execute(
        insert(webhook_deliveries).values(
            delivery_id=delivery_id,
            job_id=job_id,
            tenant_id=tenant_id,
            event=event_for_status(status).value,
            payload=event_payload(job_id, tenant_id, status, now),
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return delivery_id


class SqlWebhookOutbox:
    """The outbox side of ``SqlJobLedger`` (a mixin: it shares the ledger's engine, clock and
    transactions)."""

    _now: Callable[[], datetime]
    _tx: Callable[..., AbstractContextManager[Connection]]

    def claim_webhook_delivery(self, owner: str, lease_seconds: float) -> WebhookDelivery | None:
        """Take the most overdue pending delivery that no live sender holds, for ``lease_seconds``
        (longer than one attempt can take); ``None`` when nothing is due."""
        now = self._now()
        due = and_(
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            webhook_deliveries.c.next_attempt_at <= now,
            or_(
                webhook_deliveries.c.lease_expires_at.is_(None),
                webhook_deliveries.c.lease_expires_at < now,
            ),
        )
        with self._tx(write=False) as conn:
            candidates = conn.execute(
                select(webhook_deliveries.c.delivery_id)
                .where(due)
                .order_by(webhook_deliveries.c.next_attempt_at)
                .limit(_CANDIDATES)
            ).scalars()
            ids = list(candidates)
        for delivery_id in ids:
            with self._tx(write=True) as conn:
                taken = conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.delivery_id == delivery_id, due)
                    .values(
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                        updated_at=now,
                    )
                ).rowcount
                if taken == 1:
                    return self._load_delivery(conn, webhook_deliveries.c.delivery_id == delivery_id)
        return None

    def record_webhook_attempt(
        self, delivery_id: str, owner: str, *, error: str | None, retry_at: datetime | None = None
    ) -> bool:
        """Record one attempt of a delivery ``owner`` holds: delivered when ``error`` is None, else
        pending again until ``retry_at``, or failed for good when there is no ``retry_at``. Returns
        False (and writes nothing) when the lease was lost meanwhile."""
        now = self._now()
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            values.update(status=DeliveryStatus.DELIVERED.value, delivered_at=now)
        elif retry_at is None:
            values.update(status=DeliveryStatus.FAILED.value)
        else:
            values.update(status=DeliveryStatus.PENDING.value, next_attempt_at=retry_at)
        with self._tx(write=True) as conn:
            return self._owned(conn, delivery_id, owner, attempts=webhook_deliveries.c.attempts + 1, **values)

    def drop_webhook_delivery(self, delivery_id: str, owner: str) -> bool:
        """Delete a delivery ``owner`` holds: the tenant has no webhook for its event."""
        with self._tx(write=True) as conn:
            deleted = conn.execute(
                delete(webhook_deliveries).where(
                    webhook_deliveries.c.delivery_id == delivery_id,
                    webhook_deliveries.c.lease_owner == owner,
                    webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
                )
            ).rowcount
        return deleted == 1

    def purge_webhook_deliveries(self, due_before: datetime, *, limit: int = 1000) -> int:
        """Delete up to ``limit`` delivered or failed rows whose last attempt was due before
        ``due_before``; returns how many. Pending rows are never touched. "Last due" is
        ``next_attempt_at``, which the (status, next_attempt_at) index serves, so a pass reads only the
        rows it deletes however large the table has grown."""
        finished = [DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value]
        expired = (
            select(webhook_deliveries.c.delivery_id)
            .where(
                webhook_deliveries.c.status.in_(finished),
                webhook_deliveries.c.next_attempt_at < due_before,
            )
            .limit(limit)
        )
        with self._tx(write=True) as conn:
            return conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.delivery_id.in_(expired))
            ).rowcount

    def webhook_delivery(self, tenant_id: str, job_id: str) -> WebhookDelivery | None:
        """The latest webhook of a tenant's job (what the job JSON shows), or None."""
        mine = and_(webhook_deliveries.c.job_id == job_id, webhook_deliveries.c.tenant_id == tenant_id)
        with self._tx(write=False) as conn:
            return self._load_delivery(conn, mine)

    def webhook_deliveries_of(self, job_id: str) -> list[WebhookDelivery]:
        """Every delivery of a job, oldest first (operators and tests)."""
        with self._tx(write=False) as conn:
            rows = conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.job_id == job_id)
                .order_by(webhook_deliveries.c.created_at)
            ).all()
        return [_delivery(row) for row in rows]

    def _owned(self, conn: Connection, delivery_id: str, owner: str, **values: Any) -> bool:
        changed = conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.delivery_id == delivery_id,
                webhook_deliveries.c.lease_owner == owner,
                webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            )
            .values(updated_at=self._now(), lease_owner=None, lease_expires_at=None, **values)
        ).rowcount
        return changed == 1

    @staticmethod
    def _load_delivery(conn: Connection, where: Any) -> WebhookDelivery | None:
        row = conn.execute(
            select(webhook_deliveries).where(where).order_by(webhook_deliveries.c.created_at.desc()).limit(1)
        ).first()
        return None if row is None else _delivery(row)


def _delivery(row: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=row.delivery_id,
        job_id=row.job_id,
        tenant_id=row.tenant_id,
        event=row.event,
        payload=row.payload,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=aware_utc(row.next_attempt_at),  # type: ignore[arg-type]
        created_at=aware_utc(row.created_at),  # type: ignore[arg-type]
        last_error=row.last_error,
        delivered_at=aware_utc(row.delivered_at),
        lease_owner=row.lease_owner,
    )


__all__ = ["SqlWebhookOutbox", "insert_delivery"]
