"""The job ledger: the source of truth for jobs, their images, stages, errors and results."""

from bgremover.ledger.base import (
    IdempotencyConflictError,
    ImageRecord,
    ImageStatus,
    Job,
    JobLedger,
    JobStatus,
    JobType,
    NewImage,
    NewJob,
)

__all__ = [
    "IdempotencyConflictError",
    "ImageRecord",
    "ImageStatus",
    "Job",
    "JobLedger",
    "JobStatus",
    "JobType",
    "NewImage",
    "NewJob",
]
