"""Every Prometheus metric of the service, defined here and nowhere else.

``bg-remover serve`` runs the API and its workers as separate processes. With
``PROMETHEUS_MULTIPROC_DIR`` set in the environment *before this module is first imported* (``serve``
sets it for itself and its children with ``metrics_setup.prepare_metrics``), each process writes its
samples to files in that directory and ``render_latest`` merges them, so the API's ``/metrics`` also
shows what the workers measured. Without it (tests, a lone ``bg-remover worker``) the process's
default registry is used.

Gauges that describe the whole service (queue depth, job counts and ages) are sampled by the process
that serves ``/metrics`` just before rendering (``refresh_service_gauges``): they are facts of the
ledger and the queue, not of any one process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from bgremover.observability.metrics_setup import MULTIPROC_ENV

# Sub-second detail where the submit-latency target (100 ms) lives, minutes for the heavy work.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_WORK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

HTTP_REQUEST_DURATION = Histogram(
    "bgr_http_request_duration_seconds",
    "HTTP request latency, by route template (never the raw path), method and status code.",
    ["method", "route", "status"],
    buckets=_REQUEST_BUCKETS,
)
JOBS = Counter(
    "bgr_jobs_total",
    "Jobs entering a status (queued at submit; running, succeeded, failed, canceled later).",
    ["type", "status"],
)
JOBS_CURRENT = Gauge(
    "bgr_jobs_current",
    "Jobs now in each non-final status, as the ledger says (sampled at scrape).",
    ["status"],
    multiprocess_mode="livemostrecent",
)
JOB_OLDEST_AGE = Gauge(
    "bgr_job_oldest_age_seconds",
    "Age of the oldest job in a non-final status (0 when none; sampled at scrape).",
    ["status"],
    multiprocess_mode="livemostrecent",
)
JOB_DURATION = Histogram(
    "bgr_job_duration_seconds",
    "Age of a job when it reaches a final status (submit to end).",
    ["type", "status"],
    buckets=_WORK_BUCKETS,
)
STAGE_DURATION = Histogram(
    "bgr_stage_duration_seconds",
    "Duration of one pipeline stage of one job.",
    ["stage", "type"],
    buckets=_WORK_BUCKETS,
)
IMAGES = Counter(
    "bgr_images_processed_total",
    "Images whose processing ended, by outcome (one bad image never fails its job).",
    ["status"],
)
QUEUE_DEPTH = Gauge(
    "bgr_queue_depth",
    "Task messages waiting in the queue (sampled at scrape).",
    multiprocess_mode="livemostrecent",
)
ENQUEUE_DURATION = Histogram(
    "bgr_enqueue_duration_seconds",
    "Time to hand a job to the queue from the request path.",
    buckets=_REQUEST_BUCKETS,
)
ENQUEUE_FAILURES = Counter(
    "bgr_enqueue_failures_total",
    "Hand-offs to the queue that failed or timed out (the job is marked failed, the client gets 503).",
    ["reason"],
)
REFUSALS = Counter(
    "bgr_requests_refused_total",
    "Requests refused by a per-tenant limit or the slow-client guard: rate-limit (429), active-jobs "
    "(429), quota (402), timeout (408).",
    ["reason"],
)
DIRECT_UPLOADS = Counter(
    "bgr_direct_uploads_total",
    "Photos of direct uploads, by step: slot_issued, received (by the API's own PUT, for stores that do "
    "not take uploads themselves), checked (stored, and passed the checks of a submit by reference).",
    ["step"],
)
WORKER_DEATHS = Counter(
    "bgr_worker_deaths_total",
    "Worker processes that died mid-job on a surviving host, by what their consumer did with the job: "
    "requeued (retried at once), released (a chunk of a big job, claimable at once), dead (out of "
    "attempts), gone (finished, canceled or taken over "
    "meanwhile), unreachable (ledger or queue down: the lease expires and a reaper retries it).",
    ["outcome"],
)
CONFIG_CACHE = Counter(
    "bgr_config_cache_requests_total",
    "Per-tenant configuration lookups in workers: hit, miss (loaded from the store) or stale (store "
    "failed, last good value served).",
    ["result"],
)
WORKERS_ALIVE = Gauge(
    "bgr_workers_alive",
    "Worker processes running (each sets 1 at start; a dead one is dropped by mark_exited_processes).",
    multiprocess_mode="livesum",
)
WORKER_HEARTBEAT = Gauge(
    "bgr_worker_last_heartbeat_timestamp_seconds",
    "Unix time of the latest heartbeat of any worker; stale when every worker is gone or stuck.",
    multiprocess_mode="max",
)
CREDENTIAL_REFRESH_FAILURES = Counter(
    "bgr_credential_refresh_failures_total",
    "Failed reloads of the API's in-memory credentials (source: api-keys, jwks); the last good copy "
    "stays in use, so a revoked key or a rotated signing key is not seen until a reload succeeds.",
    ["source"],
)
CREDENTIAL_REFRESHED = Gauge(
    "bgr_credential_last_refresh_timestamp_seconds",
    "Unix time of the latest successful reload of the API's credentials, by source.",
    ["source"],
    multiprocess_mode="max",
)
WEBHOOK_DELIVERIES = Counter(
    "bgr_webhook_deliveries_total",
    "Webhook attempts by outcome: delivered (2xx), retry (tried again later), failed (given up after "
    "BGR_WEBHOOK_MAX_ATTEMPTS), dropped (the tenant has no webhook for the event).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_DURATION = Histogram(
    "bgr_webhook_attempt_duration_seconds",
    "Duration of one webhook POST, by outcome (delivered, retry, failed).",
    ["outcome"],
    buckets=_REQUEST_BUCKETS,
)
WEBHOOK_DELIVERY_LAG = Histogram(
    "bgr_webhook_delivery_lag_seconds",
    "From a job's final state to the delivery of its webhook, retries included.",
    buckets=_WORK_BUCKETS,
)

EVENT_STREAMS = Gauge(
    "bgr_event_streams",
    "Open job event streams (GET /v1/jobs/{id}/events), summed over API processes.",
    multiprocess_mode="livesum",
)
EVENT_POLLER_READS = Counter(
    "bgr_event_poller_reads_total",
    "Ledger reads of the API's shared event poller, per BGR_EVENTS_POLL_S: one for all watched jobs "
    "where the ledger reads many at once (SQL), else one per watched job; never one per stream.",
)


def worker_heartbeat() -> None:
    """A worker says it is alive; ``WorkerAbsent`` fires when no worker has said so for a while."""
    WORKERS_ALIVE.set(1)
    WORKER_HEARTBEAT.set(time.time())


def refresh_service_gauges(
    queue_depth: Callable[[], int],
    active_jobs: Callable[[], Mapping[str, tuple[int, float]]] | None = None,
) -> None:
    """Sample the gauges that describe the whole service.

    ``active_jobs`` maps each non-final status to (count, age of the oldest in seconds).
    """
    QUEUE_DEPTH.set(queue_depth())
    if active_jobs is None:
        return
    for status, (count, oldest_age) in active_jobs().items():
        JOBS_CURRENT.labels(status=status).set(count)
        JOB_OLDEST_AGE.labels(status=status).set(oldest_age)


def render_latest() -> tuple[bytes, str]:
    """The exposition text of this process, or of all processes in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
