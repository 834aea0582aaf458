"""A named test double of the AWS Lambda service: the Invoke API (``lambda_invoke_api``) in front of
functions that really run. Each invocation is handed to the function's handler by ``awslambdaric``
(AWS's runtime interface client, the one in the Lambda Python base images) through a Runtime API that
this double serves, in an execution environment of its own: a process with the standard Lambda
environment variables. moto runs functions only in Docker, which these tests do not have.

What it keeps of Lambda's behaviour:

- execution environments: one process each, made on demand up to the function's concurrency, its
  init (the handler module's import) run once and then reused warm by later invocations; one that
  timed out, crashed or failed its init is thrown away;
- timeouts: an invocation still running after the function's timeout is ``Task timed out``, its
  process killed;
- asynchronous invocations (``Event``): run in the background, retried ``max_retries`` times after an
  error (after ``retry_delay_s``, Lambda waits a minute or two), then Lambda's destination record is
  sent to the function's on-failure SQS queue;
- an SQS event source mapping (``map_queue``): batches of the queue's messages handed to a function,
  deleted unless listed in ``batchItemFailures`` (all of them kept when the function failed).

Not kept: memory limits, the init phase's 10 s limit, reserved concurrency and throttling, versions.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from lambda_invoke_api import lambda_invoke_api

REGION = "us-east-1"  # the tests' moto region (backends.S3_TEST_ENV): moto keeps state per region
ACCOUNT = "123456789012"
INIT_LIMIT_S = 300.0  # generous: model loading on a shared test machine
_RUNTIME = "/2018-06-01/runtime"
_RESULT = re.compile(rf"^{_RUNTIME}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    name: str
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    memory_mb: int = 1024
    concurrency: int = 1
    max_retries: int = 2
    retry_delay_s: float = 0.5
    on_failure_queue_url: str | None = None
    trace_sampled: bool = False

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"


@dataclass
class _Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    response: bytes = b""
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One invocation as the caller sees it: ``error`` is Lambda's ``X-Amz-Function-Error`` (None on
    success), ``payload`` the response or the error document."""

    request_id: str
    payload: bytes
    error: str | None
    cold: bool
    pid: int

    def json(self) -> Any:
        return json.loads(self.payload)


class _RuntimeApi:
    """The Runtime API of one execution environment: ``next`` hands out the pending invocation."""

    def __init__(self, config: FunctionConfig) -> None:
        self.config = config
        self.pending: queue.Queue[_Invocation] = queue.Queue()
        self.by_id: dict[str, _Invocation] = {}
        self.init_error: bytes | None = None
        self.closed = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def next_invocation(self) -> _Invocation | None:
        while not self.closed.is_set():
            with suppress(queue.Empty):
                invocation = self.pending.get(timeout=0.2)
                invocation.deadline_ms = int((time.time() + self.config.timeout_s) * 1000)
                self.by_id[invocation.request_id] = invocation
                invocation.started.set()
                return invocation
        return None

    def trace_header(self) -> str:
        root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled={int(self.config.trace_sampled)}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                invocation = api.next_invocation() if self.path == f"{_RUNTIME}/invocation/next" else None
                if invocation is None:
                    self._answer(404, b'{"errorMessage": "no invocation"}')
                    return
                self._answer(
                    200,
                    invocation.payload,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.config.arn,
                        "Lambda-Runtime-Trace-Id": api.trace_header(),
                        "Content-Type": "application/json",
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                result = _RESULT.match(self.path)
                if self.path == f"{_RUNTIME}/init/error":
                    api.init_error = body
                elif result is not None and result["id"] in api.by_id:
                    invocation = api.by_id[result["id"]]
                    invocation.response = body
                    if result["kind"] == "error":
                        invocation.error_type = self.headers.get(
                            "Lambda-Runtime-Function-Error-Type", "Unhandled"
                        )
                    invocation.done.set()
                else:
                    self._answer(400, b'{"errorMessage": "unknown request id"}')
                    return
                self._answer(202, b'{"status": "OK"}')

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                with suppress(BrokenPipeError, ConnectionResetError):  # an environment killed meanwhile
                    self._send(status, body, headers or {})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


class _Environment:
    """An execution environment: ``awslambdaric`` running the handler in a process of its own."""

    def __init__(self, config: FunctionConfig, base_env: dict[str, str], log: Path) -> None:
        self.config = config
        self.api = _RuntimeApi(config)
        self.invocations = 0
        self.alive = True
        now = datetime.now(UTC)
        env = {
            **base_env,
            **config.environment,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{now:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "_HANDLER": config.handler,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
        }
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "awslambdaric", config.handler],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def invoke(self, request_id: str, payload: bytes) -> Outcome:
        cold = self.invocations == 0
        self.invocations += 1
        invocation = _Invocation(request_id, payload)
        self.api.pending.put(invocation)
        init_deadline = time.monotonic() + INIT_LIMIT_S
        while not invocation.done.wait(0.05):
            failure = self._failure(invocation, init_deadline)
            if failure is not None:
                self.close()
                return Outcome(request_id, json.dumps(failure).encode(), "Unhandled", cold, self.process.pid)
        error = "Unhandled" if invocation.error_type is not None else None
        return Outcome(request_id, invocation.response, error, cold, self.process.pid)

    def _failure(self, invocation: _Invocation, init_deadline: float) -> dict[str, Any] | None:
        """Why the invocation can no longer end by itself, as Lambda words it; None while it can."""
        if self.api.init_error is not None:
            return dict(json.loads(self.api.init_error))
        if self.process.poll() is not None:
            return {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {invocation.request_id} Error: Runtime exited with error: "
                f"exit status {self.process.returncode}",
            }
        if invocation.started.is_set() and time.time() * 1000 > invocation.deadline_ms:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            timed_out = f"Task timed out after {self.config.timeout_s:.2f} seconds"
            return {"errorMessage": f"{stamp} {invocation.request_id} {timed_out}"}
        if not invocation.started.is_set() and time.monotonic() > init_deadline:
            return {"errorType": "Runtime.Unknown", "errorMessage": "the init phase did not end"}
        return None

    def close(self) -> None:
        self.alive = False
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.api.close()


class LambdaFunction:
    def __init__(self, config: FunctionConfig, base_env: dict[str, str], log: Path) -> None:
        self.config = config
        self.log = log
        self._base_env = base_env
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._lock = threading.Lock()
        self._idle: list[_Environment] = []
        self._all: list[_Environment] = []
        self._async: list[threading.Thread] = []
        self.outcomes: list[Outcome] = []
        self.destination_records: list[dict[str, Any]] = []

    def invoke(self, payload: bytes) -> Outcome:
        """A synchronous invocation, in an idle warm environment or a new one (a cold start)."""
        with self._slots:
            with self._lock:
                environment = self._idle.pop() if self._idle else None
            if environment is None:
                environment = _Environment(self.config, self._base_env, self.log)
                with self._lock:
                    self._all.append(environment)
            outcome = environment.invoke(str(uuid.uuid4()), payload)
            with self._lock:
                self.outcomes.append(outcome)
                if environment.alive:
                    self._idle.append(environment)
        return outcome

    def invoke_async(self, payload: bytes) -> None:
        thread = threading.Thread(target=self._run_event, args=(payload,), daemon=True)
        with self._lock:
            self._async.append(thread)
        thread.start()

    def _run_event(self, payload: bytes) -> None:
        attempts: list[Outcome] = []
        for attempt in range(1 + self.config.max_retries):
            if attempt:
                time.sleep(self.config.retry_delay_s)
            attempts.append(self.invoke(payload))
            if attempts[-1].error is None:
                return
        record = self._destination_record(payload, attempts)
        with self._lock:
            self.destination_records.append(record)
        if self.config.on_failure_queue_url is not None:
            boto3.client("sqs", region_name=REGION).send_message(
                QueueUrl=self.config.on_failure_queue_url, MessageBody=json.dumps(record)
            )

    def _destination_record(self, payload: bytes, attempts: list[Outcome]) -> dict[str, Any]:
        """Lambda's on-failure destination record of an asynchronous invocation."""
        return {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": attempts[0].request_id,
                "functionArn": f"{self.config.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": len(attempts),
            },
            "requestPayload": json.loads(payload),
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": attempts[-1].json(),
        }

    def wait_async(self, timeout: float) -> None:
        """Until every asynchronous invocation so far ended (retries and destination included)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._async)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        with self._lock:
            environments = list(self._all)
        for environment in environments:
            environment.close()


class _SqsEventSource:
    """An event source mapping: polls a queue, hands batches to a function, deletes what succeeded."""

    def __init__(self, queue_url: str, function: LambdaFunction, batch_size: int = 10) -> None:
        self.queue_url = queue_url
        self.function = function
        self.batch_size = batch_size
        self._client = boto3.client("sqs", region_name=REGION)
        self._arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            messages = self._client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
            ).get("Messages", [])
            if messages:
                self._deliver(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": self._arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
        outcome = self.function.invoke(json.dumps({"Records": records}).encode())
        if outcome.error is not None:
            return  # all of them come back after the visibility timeout
        failed = {item["itemIdentifier"] for item in (outcome.json() or {}).get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self._client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


class LambdaService:
    """The functions behind the Invoke API double (its ``runner``)."""

    def __init__(self, endpoint_url: str, functions: set[str], base_env: dict[str, str], log_dir: Path):
        self.endpoint_url = endpoint_url
        self._names = functions
        self._base_env = base_env
        self._log_dir = log_dir
        self.functions: dict[str, LambdaFunction] = {}
        self._sources: list[_SqsEventSource] = []

    def add(self, config: FunctionConfig) -> LambdaFunction:
        function = LambdaFunction(config, self._base_env, self._log_dir / f"{config.name}.log")
        self.functions[config.name] = function
        self._names.add(config.name)
        return function

    def map_queue(self, queue_url: str, function: str) -> None:
        self._sources.append(_SqsEventSource(queue_url, self.functions[function]))

    def start(self, name: str, payload: bytes) -> None:
        self.functions[name].invoke_async(payload)

    def call(self, name: str, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        outcome = self.functions[name].invoke(payload)
        headers = {"x-amz-executed-version": "$LATEST"}
        if outcome.error is not None:
            headers["x-amz-function-error"] = outcome.error
        return 200, headers, outcome.payload

    def close(self) -> None:
        for source in self._sources:
            source.close()
        for function in self.functions.values():
            function.close()


@contextmanager
def lambda_service(base_env: dict[str, str], log_dir: Path) -> Iterator[LambdaService]:
    """The service on a free localhost port (``endpoint_url``: boto3's ``AWS_ENDPOINT_URL_LAMBDA``).
    ``base_env`` is what every function's processes get before the Lambda variables and their own."""
    with lambda_invoke_api() as api:
        service = LambdaService(api.endpoint_url, api.functions, base_env, log_dir)
        api.runner = service
        try:
            yield service
        finally:
            service.close()


def function_environment(**extra: str) -> dict[str, str]:
    """What a function process starts from: this interpreter's ``PATH`` and the sources first on
    ``PYTHONPATH`` (the deployment package's contents, as ``LAMBDA_TASK_ROOT`` would be)."""
    src = Path(__file__).resolve().parents[1] / "src"
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(src), "LAMBDA_TASK_ROOT": str(src), **extra}
