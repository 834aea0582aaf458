"""Worker processes: a Huey consumer whose process workers run the job pipeline at low CPU priority."""

from bgremover.worker.consumer import default_worker_count, run_workers

__all__ = ["default_worker_count", "run_workers"]
