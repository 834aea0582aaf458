"""A test double of the job endpoints the client follows, until the real ``GET /v1/jobs/{id}/events``
and ``/archive`` are on this branch: ``http.server`` in a thread on a free localhost port.

One job, ``job-1``. Its event stream (the format fixed between branches: ``event: progress`` /
``event: final``, each with an ``id:`` and the full job JSON as ``data:``, ``: ping`` heartbeats)
drops the first connection after one event, so a client must resume with ``Last-Event-ID``. A download
redirects to another origin (``localhost`` instead of ``127.0.0.1``), as a presigned S3 URL would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from http_double import QuietHandler, serving

JOB_ID = "job-1"
ARCHIVE = b"PK\x05\x06" + b"\0" * 18  # an empty ZIP


def job_state(status: str, done: int) -> dict[str, Any]:
    result = None
    if status == "succeeded":
        image = {"imageId": "img-0001", "filename": "a.jpg", "status": "succeeded", "error": None}
        result = {
            "groups": [
                {"groupId": "group-0001", "imageIds": ["img-0001"], "representativeImageId": "img-0001"}
            ],
            "images": [{**image, "groupId": "group-0001", "thumbnailUrl": "http://x/thumbnail"}],
        }
    return {
        "jobId": JOB_ID,
        "status": status,
        "stage": None if status != "running" else "embeddings",
        "progress": {"done": done, "total": 1},
        "error": None,
        "result": result,
    }


@dataclass
class JobDouble:
    base_url: str
    event_requests: list[dict[str, str]] = field(default_factory=list)
    blob_requests: list[dict[str, str]] = field(default_factory=list)
    job_gets: int = 0
    events_enabled: bool = True


def _event(number: int, name: str, job: dict[str, Any]) -> bytes:
    return f"id: {number}\nevent: {name}\ndata: {json.dumps(job)}\n\n".encode()


@contextmanager
def job_double() -> Iterator[JobDouble]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    double = JobDouble(f"http://127.0.0.1:{port}")

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path == f"/v1/jobs/{JOB_ID}":
                double.job_gets += 1
                status = "running" if double.job_gets < 3 else "succeeded"
                self._send(200, json.dumps(job_state(status, 0 if status == "running" else 1)).encode())
            elif self.path == f"/v1/jobs/{JOB_ID}/events" and double.events_enabled:
                double.event_requests.append(headers)
                self._stream(headers.get("last-event-id"))
            elif self.path == f"/v1/jobs/{JOB_ID}/archive":
                self._send(200, ARCHIVE, "application/zip")
            elif self.path == f"/v1/jobs/{JOB_ID}/images/img-0001/cutout":
                self.send_response(307)
                self.send_header("location", f"http://localhost:{port}/blob/cutout.png")
                self.send_header("content-length", "0")
                self.end_headers()
            elif self.path == "/blob/cutout.png":
                double.blob_requests.append(headers)
                self._send(200, b"\x89PNG-bytes", "image/png")
            else:
                body = {"type": "urn:bgremover:problem:not-found", "title": "Not Found", "status": 404}
                self._send(404, json.dumps(body).encode(), "application/problem+json")

        def _stream(self, last_event_id: str | None) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            if last_event_id is None:  # first connection: one event, then the connection drops
                self.wfile.write(b": ping\n\n" + _event(1, "progress", job_state("queued", 0)))
            else:
                self.wfile.write(_event(2, "progress", job_state("running", 0)) + b": ping\n\n")
                self.wfile.write(_event(3, "final", job_state("succeeded", 1)))
            self.wfile.flush()
            self.close_connection = True

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server.RequestHandlerClass = Handler
    with serving(server):
        yield double
