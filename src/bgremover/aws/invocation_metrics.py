"""What one worker invocation did, as CloudWatch metrics: read from the process's own Prometheus
counters, which the job runner and the pipeline already keep (jobs by outcome, images by outcome,
seconds per stage), so the Lambda worker measures exactly what ``bg-remover worker`` measures.

A snapshot before the job and one after: the difference is this invocation's work alone (a warm
container keeps its counters from one invocation to the next).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from prometheus_client import REGISTRY

from bgremover.aws.powertools import NAMESPACE, SERVICE, metrics

_JOBS = "bgr_jobs_total"
_IMAGES = "bgr_images_processed_total"
_STAGE_SECONDS = "bgr_stage_duration_seconds_sum"
_WATCHED = {_JOBS, _IMAGES, _STAGE_SECONDS}
# Outcome counters by name: the template's failed-job-rate alarm reads JobsFailed / JobsSucceeded.
_OUTCOMES = {"succeeded": "JobsSucceeded", "failed": "JobsFailed"}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CounterSnapshot:
    values: Mapping[tuple[str, Labels], float]

    @classmethod
    def take(cls) -> CounterSnapshot:
        return cls(
            {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in REGISTRY.collect()
                for sample in family.samples
                if sample.name in _WATCHED
            }
        )

    def since(self, earlier: CounterSnapshot) -> dict[tuple[str, Labels], float]:
        """The counters that moved since ``earlier``, by how much."""
        moved = {key: value - earlier.values.get(key, 0.0) for key, value in self.values.items()}
        return {key: delta for key, delta in moved.items() if delta > 0}


@dataclass(frozen=True, slots=True)
class InvocationWork:
    """A job handled by this invocation: ``outcome`` None when it did not end here (not claimable,
    lease lost, interrupted by a backend outage)."""

    claimed: bool
    outcome: str | None
    images: dict[str, int]
    stage_ms: dict[str, float]

    @classmethod
    def between(cls, before: CounterSnapshot, after: CounterSnapshot) -> InvocationWork:
        moved = after.since(before)
        jobs = {dict(labels)["status"] for name, labels in moved if name == _JOBS}
        images = {dict(labels)["status"]: int(n) for (name, labels), n in moved.items() if name == _IMAGES}
        stage_ms = {
            dict(labels)["stage"]: seconds * 1000
            for (name, labels), seconds in moved.items()
            if name == _STAGE_SECONDS
        }
        outcome = next((status for status in _OUTCOMES if status in jobs), None)
        return cls(claimed="running" in jobs, outcome=outcome, images=images, stage_ms=stage_ms)

    def publish(self) -> None:
        """Add to this invocation's EMF document (flushed by ``log_metrics``); a stage's duration is a
        metric of its own with a ``stage`` dimension beside ``service``."""
        if not self.claimed:
            metrics.add_metric(name="DeliveriesIgnored", unit=MetricUnit.Count, value=1)
        if self.outcome is not None:
            metrics.add_metric(name=_OUTCOMES[self.outcome], unit=MetricUnit.Count, value=1)
        for status, count in self.images.items():
            metrics.add_metric(name=f"Images{status.capitalize()}", unit=MetricUnit.Count, value=count)
        for stage, ms in self.stage_ms.items():
            with single_metric(
                name="StageDuration",
                unit=MetricUnit.Milliseconds,
                value=ms,
                namespace=NAMESPACE,
                default_dimensions={"service": SERVICE},
            ) as metric:
                metric.add_dimension(name="stage", value=stage)
