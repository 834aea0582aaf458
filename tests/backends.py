"""Real backend servers for contract and fault tests: moto's standalone server on a free port (S3, and
SSM and SQS reached through boto3's ``AWS_ENDPOINT_URL``, a fresh queue or stage per test), moto's
DynamoDB with a fresh table per test, a double of Lambda's Invoke API, a fresh PostgreSQL database per
test, a Redis key namespace per test, and a TCP proxy to cut any of them.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) and Redis (127.0.0.1:6379) are expected to run
on every development and CI machine; a test that needs one is skipped, with the reason, where it is not.
Loaded as a pytest plugin by ``tests/conftest.py``, so its fixtures serve every test folder.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest
import redis
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from lambda_invoke_api import LambdaInvokeApi, lambda_invoke_api

PG_ADMIN_DSN = os.environ.get("BGR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BGR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# moto accepts any credentials; exporting them keeps boto3 in this process and in workers started by
# the tests away from real AWS credentials and the instance metadata service.
S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# The fixture (below) giving a fresh database URL per test, per ledger backend on a server.
SERVER_LEDGER_URLS = {"postgresql": "postgres_url", "dynamodb": "dynamodb_url"}


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_name(kind: str) -> str:
    return f"bgr_{kind}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint_url: str

    def create_bucket(self) -> str:
        """A fresh bucket, so tests never see each other's blobs."""
        bucket = unique_name("bucket").replace("_", "-")
        boto3.client("s3", endpoint_url=self.endpoint_url).create_bucket(Bucket=bucket)
        return bucket


@contextmanager
def exported(env: dict[str, str]) -> Iterator[None]:
    """``env`` in ``os.environ`` (so worker processes inherit it) until the block ends, then as before."""
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's S3-compatible HTTP server on a free localhost port, with test credentials exported."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with exported(S3_TEST_ENV):
        server.start()
        try:
            yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
        finally:
            server.stop()


class AtomicMotoServer(ThreadedMotoServer):
    """moto's server answering one request at a time. DynamoDB applies each conditional write
    atomically, and the ledger's guarantees (one claim wins) rest on that; moto evaluates a
    condition and applies the write in Python without a lock, so two concurrent requests could both
    pass. Serialising requests restores the guarantee; racing clients still race to the server."""

    def _server_entry(self) -> None:
        if not self._verbose:  # werkzeug logs every request, refused conditions (400) included
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: Any, start_response: Any) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@contextmanager
def dynamodb_server() -> Iterator[str]:
    """moto's DynamoDB on a free localhost port, reached through boto3's own configuration
    (``AWS_ENDPOINT_URL_DYNAMODB``, test credentials and region), as the ledger is in production."""
    port = free_port()
    server = AtomicMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with exported({**S3_TEST_ENV, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}"}):
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def postgres_available() -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {exc}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A uniquely named, empty database; dropped afterwards (its connections cut first). Yields a
    SQLAlchemy URL with the psycopg 3 driver."""
    name = unique_name("db")
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def terminate_postgres_connections(database: str) -> int:
    """Cut every connection to ``database`` (a PostgreSQL outage as clients see it); return how many."""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def redis_available() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    return None


@contextmanager
def redis_namespace() -> Iterator[str]:
    """A unique key namespace on the shared Redis (other engineers' tests use the same server); its
    keys are deleted afterwards."""
    name = unique_name("ns")
    try:
        yield name
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{name}*", count=1000))
        if keys:
            client.delete(*keys)


class TcpProxy:
    """A TCP relay in front of a real server (PostgreSQL, Redis) that a test can cut and restore: an
    outage as its clients see it (connections reset, new ones refused), without stopping the shared
    server that other engineers' tests use."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                for sock in (source, target):
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                    self._open.discard(sock)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_up() -> None:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def postgres_url(postgres_up: None) -> Iterator[str]:
    """A fresh database per test: counts and reclaimable lists must not see other tests' jobs."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_up() -> None:
    reason = redis_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def dynamodb() -> Iterator[str]:
    """moto's DynamoDB for the session (its endpoint); tables are per test (``dynamodb_url``)."""
    with dynamodb_server() as endpoint:
        yield endpoint


@pytest.fixture
def dynamodb_url(dynamodb: str) -> Iterator[str]:
    """``dynamodb://TABLE`` for a table of this test alone, created by the ledger that opens it
    (as ``serve`` does) and deleted afterwards."""
    table = unique_name("table")
    yield f"dynamodb://{table}"
    with suppress(boto3.client("dynamodb").exceptions.ResourceNotFoundException):
        boto3.client("dynamodb").delete_table(TableName=table)


@pytest.fixture
def aws_endpoint(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto's server (it answers every AWS service) as boto3's endpoint in this process and in the
    processes it starts, as an operator would point a deployment at LocalStack."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint_url)
    return s3.endpoint_url


@pytest.fixture
def sqs_queue(aws_endpoint: str) -> str:
    """A fresh SQS queue on moto; its name (``sqs://`` + name is a queue URL)."""
    name = unique_name("queue")
    boto3.client("sqs").create_queue(QueueName=name)
    return name


@pytest.fixture
def ssm_stage(aws_endpoint: str) -> str:
    """A stage of this test's own, so that the keys it writes under ``/tf/{stage}/`` on the shared moto
    server are the only ones it lists."""
    return unique_name("stage").replace("_", "-")


@pytest.fixture
def lambda_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaInvokeApi]:
    """The Invoke API double with one function, ``bgr-worker``, as boto3's Lambda endpoint."""
    for key, value in S3_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    with lambda_invoke_api("bgr-worker") as api:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", api.endpoint_url)
        yield api
