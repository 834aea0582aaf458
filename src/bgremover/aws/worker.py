"""``bgremover.aws.worker.handler``: the worker function, invoked asynchronously with one job
(``{"jobId": "..."}``, what ``lambda://`` queues send) or with an SQS batch (``sqs://`` queues; the
records whose job raised are reported in ``batchItemFailures``).

The job runs in the existing ``JobRunner`` (claim, lease, stages, outcome), so a duplicate or late
delivery is a no-op: the claim decides. The models are loaded in the init phase, once per execution
environment, and every warm invocation reuses them; the per-tenant configuration is read from the
parameter store by the runner, through its cache, when a job needs it (never during the init).

Observability: Powertools Logger lines carry the Lambda request id, the tenant, the job and the
submit's request id (the runner's own structlog lines carry the latter three as everywhere); Metrics
publish cold starts, jobs by outcome, images by outcome and a duration per stage (EMF, namespace
``BgRemover``); Tracer opens an X-Ray subsegment for the job and one per stage (with the function's
active tracing; Powertools disables it outside Lambda, and without an X-Ray daemon the SDK's UDP
datagrams are simply lost).

Webhooks: each invocation ends with one pass of the webhook sender (the job's own webhook, and any
retry that is due); a scheduled ``{"task": "webhooks"}`` event (every minute in the template) makes a
pass alone, so retries go out when no job comes. Worker nodes run the same sender in a thread, which
a frozen Lambda environment cannot.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bgremover.aws.invocation_metrics import CounterSnapshot, InvocationWork
from bgremover.aws.powertools import SERVICE, logger, metrics
from bgremover.observability.logging import configure_logging
from bgremover.observability.tracing import install_stage_spans
from bgremover.queue.message import job_id_of
from bgremover.queue.sqs import process_batch
from bgremover.resilience.transient import BACKEND_OUTAGE
from bgremover.settings import get_settings
from bgremover.worker.runtime import WorkerRuntime

WEBHOOK_TICK = {"task": "webhooks"}

configure_logging("worker")
tracer = Tracer(service=SERVICE)
_runtime = WorkerRuntime(get_settings())
_runtime.runner.engines.warm()
install_stage_spans(lambda stage: tracer.provider.in_subsegment(f"## stage {stage}"))


def run_job(job_id: str) -> None:
    """Run one job if this delivery may (the claim decides), and publish what the invocation did."""
    job = _runtime.services.ledger.get_job_for_worker(job_id)
    if job is None:
        logger.warning("job_unknown", extra={"job_id": job_id})
        return
    logger.append_keys(job_id=job_id, tenant_id=job.tenant_id, request_id=job.request_id)
    try:
        before = CounterSnapshot.take()
        with tracer.provider.in_subsegment("## job") as subsegment:
            subsegment.put_annotation("job_id", job_id)
            subsegment.put_annotation("tenant_id", job.tenant_id)
            _runtime.handle(job_id)
        work = InvocationWork.between(before, CounterSnapshot.take())
        work.publish()
        logger.info(
            "job_delivery_handled",
            extra={"claimed": work.claimed, "outcome": work.outcome, "images": work.images},
        )
    finally:
        logger.remove_keys(["job_id", "tenant_id", "request_id"])


def send_webhooks() -> None:
    """One pass of the webhook sender; a backend outage is left to the next pass."""
    try:
        handled = _runtime.deliveries.run_once()
    except BACKEND_OUTAGE as exc:
        logger.warning("webhook_pass_failed", extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
        return
    if handled:
        metrics.add_metric(name="WebhooksHandled", unit=MetricUnit.Count, value=handled)


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        answer = process_batch(event, context, run_job)
    elif event == WEBHOOK_TICK:
        answer = {}
    else:
        answer = {"jobId": _job_of(event)}
    send_webhooks()
    return answer


def _job_of(event: dict[str, Any]) -> str | None:
    """Run the job an asynchronous event names; an event that names none is dropped (retrying it
    cannot help)."""
    try:
        job_id = job_id_of(event)
    except ValueError as exc:
        logger.warning("event_dropped", extra={"error": str(exc)})
        return None
    run_job(job_id)
    return job_id
