"""The job ledger: the source of truth for jobs, their images, stages, errors and results."""

from bgremover.ledger.base import (
    Chunk,
    ChunkStatus,
    IdempotencyConflictError,
    ImageOutcome,
    ImageRecord,
    ImageStatus,
    Job,
    JobLedger,
    JobStatus,
    JobType,
    LeaseLostError,
    NewImage,
    NewJob,
)

__all__ = [
    "Chunk",
    "ChunkStatus",
    "IdempotencyConflictError",
    "ImageOutcome",
    "ImageRecord",
    "ImageStatus",
    "Job",
    "JobLedger",
    "JobStatus",
    "JobType",
    "LeaseLostError",
    "NewImage",
    "NewJob",
]
