"""The delivery loop: every worker process sends due webhooks from the ledger's outbox.

Like the reaper, it runs on every worker node and needs no coordinator: each pass claims one due
delivery at a time with a lease (a conditional UPDATE), so several loops on several machines share the
work and never send the same attempt at once. It runs in a thread of its own, beside the job pipeline,
so a slow or dead receiver delays only other webhooks, never a job; a job's outcome is written
before its webhook is even looked at.

The URL and secret are read at send time from the tenant's configuration (through the workers' cache),
so a changed URL or rotated secret applies to the next retry, and no secret is ever copied into the
ledger. A tenant with no webhook for the event gets its row dropped.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bgremover.ledger.base import JobLedger, WebhookDelivery, utcnow
from bgremover.observability.logging import get_logger, log_context
from bgremover.observability.metrics import (
    WEBHOOK_ATTEMPT_DURATION,
    WEBHOOK_DELIVERIES,
    WEBHOOK_DELIVERY_LAG,
)
from bgremover.params.base import ParameterStoreError
from bgremover.params.cache import TenantConfigCache
from bgremover.resilience.transient import LEDGER_OUTAGE
from bgremover.webhooks.events import render_body
from bgremover.webhooks.schedule import RetrySchedule
from bgremover.webhooks.sender import WebhookSender
from bgremover.webhooks.signing import signed_headers

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    public_base_url: str = "http://127.0.0.1:8000"
    poll_s: float = 2.0
    lease_s: float = 60.0  # longer than one attempt can take (connect + read timeouts)
    batch: int = 100  # at most this many attempts per pass, so ``stop`` is heard


class DeliveryLoop:
    def __init__(
        self,
        ledger: JobLedger,
        configs: TenantConfigCache,
        sender: WebhookSender,
        schedule: RetrySchedule,
        *,
        owner: str,
        options: DeliveryOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._ledger = ledger
        self._configs = configs
        self._sender = sender
        self._schedule = schedule
        self._owner = owner
        self._options = options or DeliveryOptions()
        self._now = clock
        self._rng = rng
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the thread ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="webhook-delivery", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the attempt in flight (bounded by the sender's timeouts) and stop."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._sender.close()

    def _loop(self) -> None:
        poll = self._options.poll_s
        while not self._stopping.wait(poll * (0.5 + self._rng())):  # jittered: loops drift apart
            try:
                self.run_once()
            except LEDGER_OUTAGE as exc:  # the next pass tries again; a held lease expires
                log.warning("webhook.pass_failed", error=f"{type(exc).__name__}: {exc}"[:500])
            except Exception:  # a bug: logged, and the thread lives on for the other webhooks
                log.exception("webhook.pass_crashed")

    # --- one pass ------------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Make every due attempt (up to ``batch``); return how many deliveries were handled."""
        handled = 0
        while handled < self._options.batch and not self._stopping.is_set():
            delivery = self._ledger.claim_webhook_delivery(self._owner, self._options.lease_s)
            if delivery is None:
                break
            with log_context(job_id=delivery.job_id, tenant_id=delivery.tenant_id):
                self.deliver(delivery)
            handled += 1
        return handled

    def deliver(self, delivery: WebhookDelivery) -> str:
        """One attempt of a claimed delivery; returns its outcome (delivered, retry, failed, dropped)."""
        try:
            config = self._configs.get(delivery.tenant_id)
        except ParameterStoreError as exc:
            return self._record(delivery, f"configuration unavailable: {exc}"[:500], None)
        hook = config.webhook
        if hook is None or not hook.wants(delivery.event):
            self._ledger.drop_webhook_delivery(delivery.delivery_id, self._owner)
            WEBHOOK_DELIVERIES.labels(outcome="dropped").inc()
            return "dropped"
        body = render_body(delivery.payload, self._options.public_base_url)
        headers = signed_headers(hook.secret.get_secret_value(), delivery.delivery_id, body)
        started = time.perf_counter()
        error = self._sender.post(str(hook.url), body, headers)
        return self._record(delivery, error, time.perf_counter() - started)

    def _record(self, delivery: WebhookDelivery, error: str | None, seconds: float | None) -> str:
        attempts = delivery.attempts + 1
        now = self._now()
        delay = None if error is None else self._schedule.next_delay(attempts, self._rng)
        retry_at = None if delay is None else now + timedelta(seconds=delay)
        outcome = "delivered" if error is None else ("retry" if retry_at else "failed")
        if not self._ledger.record_webhook_attempt(
            delivery.delivery_id, self._owner, error=error, retry_at=retry_at
        ):
            log.warning("webhook.lease_lost", delivery_id=delivery.delivery_id)  # taken over: it retries
            return "lease-lost"
        WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
        if seconds is not None:
            WEBHOOK_ATTEMPT_DURATION.labels(outcome=outcome).observe(seconds)
        if outcome == "delivered":
            WEBHOOK_DELIVERY_LAG.observe((now - delivery.created_at.astimezone(UTC)).total_seconds())
            log.info("webhook.delivered", delivery_id=delivery.delivery_id, attempts=attempts)
        else:
            log.warning(
                f"webhook.{outcome}",
                delivery_id=delivery.delivery_id,
                attempts=attempts,
                error=error,
                retry_at=retry_at.isoformat() if retry_at else None,
            )
        return outcome
