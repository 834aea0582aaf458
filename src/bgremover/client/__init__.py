"""A Python client for bg-remover's HTTP API: submit photos, wait for the job, fetch its outputs.

It needs only httpx (and the standard library): nothing of the service (ONNX Runtime, OpenCV,
FastAPI, SQLAlchemy) is imported, so a client machine installs no more than that.

    from bgremover.client import Client

    with Client("http://127.0.0.1:8000", api_key="bgr_...") as client:
        job = client.wait(client.group_images(["a.jpg", "b.jpg"], threshold=0.3), timeout=300)
        for group in job.groups:
            print(group.group_id, group.image_ids)
"""

from bgremover.client.aio import AsyncClient
from bgremover.client.errors import ApiError, WaitTimeoutError
from bgremover.client.models import Group, Image, Job, Progress
from bgremover.client.protocol import PollPolicy, RetryPolicy
from bgremover.client.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "Group",
    "Image",
    "Job",
    "PollPolicy",
    "Progress",
    "RetryPolicy",
    "WaitTimeoutError",
]
