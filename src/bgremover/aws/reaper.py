"""``bgremover.aws.reaper.handler``: the reaper pass on a schedule (every minute in the template),
the same pass that worker nodes run as a periodic task: queued jobs whose invocation was lost are
invoked again, running jobs whose worker died are retried after a backoff or failed as dead.

It publishes ``OldestQueuedJobAgeSeconds`` (the template's "jobs queued too long" alarm), the jobs it
re-enqueued and the jobs it failed as dead (``JobsFailed``, which the failed-job-rate alarm counts
beside the worker's). It loads no model and reads no parameter store.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from bgremover.aws.powertools import logger, metrics
from bgremover.ledger.base import JobStatus, utcnow
from bgremover.observability.logging import configure_logging
from bgremover.settings import get_settings
from bgremover.wiring import build_reaper, build_services

configure_logging("reaper")
_settings = get_settings()
_services = build_services(_settings, migrate=False)
_reaper = build_reaper(_settings, _services)


def oldest_queued_age_s() -> float:
    oldest = _services.ledger.oldest_created_at(JobStatus.QUEUED)
    return 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = _reaper.run_once()
    age = oldest_queued_age_s()
    metrics.add_metric(name="OldestQueuedJobAgeSeconds", unit=MetricUnit.Seconds, value=age)
    metrics.add_metric(name="JobsRequeued", unit=MetricUnit.Count, value=len(report.requeued))
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=len(report.dead))
    summary = {
        "requeued": report.requeued,
        "dead": report.dead,
        "backingOff": report.backing_off,
        "purgedWebhooks": report.purged_webhooks,
        "oldestQueuedJobAgeSeconds": round(age, 3),
    }
    logger.info("reaper_pass", extra=summary)
    return summary
