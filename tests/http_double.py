"""What every ``http.server`` test double here shares: a quiet handler base and a server answering in a
thread of the test until the block ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output to the tests
        return


@contextmanager
def serving(server: HTTPServer) -> Iterator[None]:
    """``server`` answering in a daemon thread; shut down, closed and joined when the block ends."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
