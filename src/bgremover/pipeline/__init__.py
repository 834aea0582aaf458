"""The worker's job pipeline: decode, thumbnails, cut-outs, embeddings, grouping, store results.
It knows jobs, images and blobs; nothing of HTTP or of the queue that delivered the job."""

from bgremover.pipeline.runner import JobRunner

__all__ = ["JobRunner"]
