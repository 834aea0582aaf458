"""``bgremover.aws.failures.handler``: the worker's on-failure destination. A job whose every
invocation failed (crashed, timed out, ran out of memory, or could not even start) is marked failed
with the reason, never left ``queued`` or ``running``.

It reads, from an SQS event (the template's on-failure queue) or invoked directly (a Lambda
destination):

- Lambda's destination record (``requestContext.condition`` ``RetriesExhausted`` or
  ``EventAgeExceeded``, ``requestPayload`` the job message, ``responsePayload`` the last error);
- a job message dead-lettered by an ``sqs://`` queue's redrive policy (the reason is then the
  receive count: SQS does not say why).

A running job is failed as its last owner (``fail_claimed``), so a newer attempt that took the job
over meanwhile is left alone; a queued one (its worker never started) with ``fail``; a final one is
not touched. SQS records that could not be settled come back (``batchItemFailures``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bgremover.aws.powertools import logger, metrics
from bgremover.ledger.base import JobStatus, LeaseLostError
from bgremover.ledger.factory import ledger_from_url
from bgremover.observability.logging import configure_logging
from bgremover.problems import problem
from bgremover.queue.message import job_id_of
from bgremover.settings import get_settings

configure_logging("failures")
_ledger = ledger_from_url(get_settings().database_url, migrate=False)


def failure_of(record: Mapping[str, Any], receive_count: int | None = None) -> tuple[str, str]:
    """``(job_id, reason)`` of a destination record or of a dead-lettered job message;
    ``ValueError`` when it names no job."""
    if "requestContext" in record and "requestPayload" in record:
        context = record["requestContext"]
        response = record.get("responsePayload")
        error = "no response" if response is None else _error_text(response)
        reason = (
            f"every invocation of the worker failed ({context.get('condition')}, "
            f"{context.get('approximateInvokeCount')} attempts); the last: {error}"
        )
        return job_id_of(record["requestPayload"]), reason
    reason = f"the queue dead-lettered the job's message after {receive_count or 'several'} receives"
    return job_id_of(record), reason


def _error_text(response: Any) -> str:
    if isinstance(response, Mapping) and "errorMessage" in response:
        return f"{response.get('errorType', 'Error')}: {response['errorMessage']}"
    return json.dumps(response)[:1000]


def settle(job_id: str, reason: str) -> str:
    """Fail the job with ``reason`` unless it is final already; what was done, for the logs."""
    job = _ledger.get_job_for_worker(job_id)
    if job is None or job.status.is_final:
        return "unknown" if job is None else f"left {job.status.value}"
    error = problem(500, "worker-failed", reason, stage=job.stage, request_id=job.request_id)
    if job.status is JobStatus.RUNNING and job.lease_owner is not None:
        try:
            _ledger.fail_claimed(job_id, job.lease_owner, error, notify=True)
        except LeaseLostError:
            return "taken over by another attempt"
    else:
        _ledger.fail(job_id, error)
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    return "failed"


def _settle_record(record: Mapping[str, Any], receive_count: int | None = None) -> None:
    try:
        job_id, reason = failure_of(record, receive_count)
    except ValueError as exc:  # nothing to settle, and retrying cannot change that
        logger.warning("failure_record_dropped", extra={"error": str(exc)})
        return
    logger.info(
        "failure_settled", extra={"job_id": job_id, "reason": reason, "action": settle(job_id, reason)}
    )


def _sqs_record(record: SQSRecord) -> None:
    try:
        body = json.loads(record.body)
    except json.JSONDecodeError:
        logger.warning("failure_record_dropped", extra={"error": "not JSON"})
        return
    count = record.attributes.approximate_receive_count
    _settle_record(body if isinstance(body, dict) else {}, int(count) if count else None)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        processor = BatchProcessor(event_type=EventType.SQS)
        return process_partial_response(
            event=event, record_handler=_sqs_record, processor=processor, context=context
        )
    _settle_record(event)
    return {}
