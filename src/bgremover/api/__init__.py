"""The HTTP API: submit, poll, download, cancel; health, readiness and metrics. It knows nothing of
ONNX or of the pipeline: it stores uploads, writes jobs and hands their ids to the queue."""

from bgremover.api.app import create_app

__all__ = ["create_app"]
