"""The job ledger: the source of truth for jobs, their images, stages, errors and results."""

from bgremover.ledger.base import (
    IdempotencyConflict,
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
    "IdempotencyConflict",
    "ImageRecord",
    "ImageStatus",
    "Job",
    "JobLedger",
    "JobStatus",
    "JobType",
    "NewImage",
    "NewJob",
]
