"""An HTTP relay that answers every request late: an AWS endpoint as slow as the original deployment's
SSM (5-10 s a call), for the processes a test starts (``AWS_ENDPOINT_URL_SSM`` pointing at it).

Each request is held ``delay_s`` (settable while it runs), then sent on to the upstream server and its
answer relayed unchanged; ``delayed`` counts the requests that were held."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class SlowHttpProxy:
    url: str
    delay_s: float = 0.0
    delayed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self) -> None:
        with self.lock:
            delay = self.delay_s
            self.delayed += delay > 0
        time.sleep(delay)


@contextmanager
def slow_http_proxy(upstream: str) -> Iterator[SlowHttpProxy]:
    target = urlsplit(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    proxy = SlowHttpProxy(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # AWS's JSON and query protocols: every call is a POST
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            proxy.hold()
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server.RequestHandlerClass = Handler
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
