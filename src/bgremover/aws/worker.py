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
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Tracer

from bgremover.aws.invocation_metrics import CounterSnapshot, InvocationWork
from bgremover.aws.powertools import SERVICE, logger, metrics
from bgremover.observability.logging import configure_logging
from bgremover.observability.tracing import install_stage_spans
from bgremover.queue.message import job_id_of
from bgremover.queue.sqs import process_batch
from bgremover.settings import get_settings
from bgremover.worker.runtime import WorkerRuntime

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


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        return process_batch(event, context, run_job)
    try:
        job_id = job_id_of(event)
    except ValueError as exc:  # retrying cannot help an event that names no job
        logger.warning("event_dropped", extra={"error": str(exc)})
        return {"jobId": None}
    run_job(job_id)
    return {"jobId": job_id}
