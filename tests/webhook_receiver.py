"""A real HTTP webhook receiver for tests: ``http.server`` in a thread on a free localhost port, answering
each POST with the next status of a script (then the last one forever) and recording what it got."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from http_double import QuietHandler, serving


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    statuses: list[int]
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@contextmanager
def webhook_receiver(statuses: Sequence[int] = (200,)) -> Iterator[Receiver]:
    """A receiver at ``receiver.url`` (``http://127.0.0.1:<port>/hooks``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks", list(statuses))

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            status = receiver.next_status(request)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server.RequestHandlerClass = Handler
    with serving(server):
        yield receiver
