"""A named test double of AWS Lambda's ``Invoke`` API, for ``lambda://`` queues: moto cannot run a
function without Docker, and these tests need only what a caller sees of the endpoint.

An HTTP server on a free localhost port, reached by boto3 through ``AWS_ENDPOINT_URL_LAMBDA``. It
answers ``POST /2015-03-31/functions/{name}/invocations`` as Lambda does: an ``Event`` invocation of a
known function is recorded and answered 202, a ``DryRun`` 204, an unknown function 404
(``ResourceNotFoundException``). ``hang()`` makes Event invocations wait, unanswered, until
``release()``: an invoke endpoint that hangs. With a ``runner`` (``tests/lambda_service.py``, the
double that also runs functions), each accepted Event is handed to it and a ``RequestResponse``
invocation answers what the function returned.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from http_double import QuietHandler, serving

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


class FunctionRunner(Protocol):
    """What runs the functions behind the endpoint: ``start`` an Event invocation in the background,
    ``call`` a RequestResponse one (answering its status, headers and payload)."""

    def start(self, name: str, payload: bytes) -> None: ...
    def call(self, name: str, payload: bytes) -> tuple[int, dict[str, str], bytes]: ...


@dataclass
class LambdaInvokeApi:
    endpoint_url: str
    functions: set[str]
    events: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _answering: threading.Event = field(default_factory=threading.Event)
    runner: FunctionRunner | None = None

    def __post_init__(self) -> None:
        self._answering.set()

    def hang(self) -> None:
        self._answering.clear()

    def release(self) -> None:
        self._answering.set()

    def job_ids(self, function: str) -> list[str]:
        """The ``jobId`` of every Event invocation of ``function`` so far, in order."""
        with self.lock:
            return [json.loads(payload)["jobId"] for name, payload in self.events if name == function]

    def answer(self, path: str, invocation_type: str, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        match = _INVOKE.match(path)
        if match is None or match["name"] not in self.functions:
            error = {"Type": "User", "Message": f"Function not found: {path}"}
            return 404, {"x-amzn-errortype": "ResourceNotFoundException"}, json.dumps(error).encode()
        if invocation_type == "DryRun":
            return 204, {}, b""
        if invocation_type == "RequestResponse" and self.runner is not None:
            return self.runner.call(match["name"], payload)
        if invocation_type != "Event":
            return 400, {"x-amzn-errortype": "InvalidParameterValueException"}, b'{"Message": "Event only"}'
        self._answering.wait(60)
        with self.lock:
            self.events.append((match["name"], payload))
        if self.runner is not None:
            self.runner.start(match["name"], payload)
        return 202, {}, b""


@contextmanager
def lambda_invoke_api(*functions: str) -> Iterator[LambdaInvokeApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    api = LambdaInvokeApi(f"http://127.0.0.1:{server.server_address[1]}", set(functions))

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers.get("content-length", 0)))
            invocation_type = self.headers.get("x-amz-invocation-type", "RequestResponse")
            status, headers, body = api.answer(self.path, invocation_type, payload)
            self.send_response(status)
            for name, value in {**headers, "content-length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    server.RequestHandlerClass = Handler
    server.daemon_threads = True
    with serving(server):
        try:
            yield api
        finally:
            api.release()
