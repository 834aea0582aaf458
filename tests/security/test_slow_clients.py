"""Slow and bloated clients against a REAL ``bg-remover serve`` (uvicorn, API only), through raw
sockets: a stalled or trickling upload is ``408`` with its spooled temporary file gone, a request head
trickled in (slowloris) has its connection closed, an oversized head is ``400``, and a file part over
``BGR_MAX_IMAGE_BYTES`` is ``413`` while the body is still arriving. No job is ever created. The
timeouts are set to seconds here so that the suite finishes quickly."""

from __future__ import annotations

import contextlib
import json
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bgremover.ledger.base import JobStatus
from bgremover.ledger.sql import SqlJobLedger
from e2e.e2e_server import Server, running_server

IDLE_S, UPLOAD_S, HEAD_S = 1.0, 3.0, 2.0
MAX_IMAGE_BYTES = 3_000_000
BOUNDARY = "slow-boundary"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="big.png"\r\n'
    "Content-Type: image/png\r\n\r\n"
).encode()


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("slow-serve")
    env = {
        "BGR_UPLOAD_IDLE_TIMEOUT_S": str(IDLE_S),
        "BGR_UPLOAD_TIMEOUT_S": str(UPLOAD_S),
        "BGR_HTTP_HEADER_TIMEOUT_S": str(HEAD_S),
        "BGR_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES),
    }
    with running_server(workdir, workdir / "models", workers=0, probe="/healthz", **env) as server:
        yield server


def _connect(server: Server) -> socket.socket:
    url = urlsplit(server.base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=15)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _upload_head(content_length: int) -> bytes:
    return (
        "POST /v1/remove-background HTTP/1.1\r\nHost: test\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _spooled_temp_files(server: Server) -> int:
    """Deleted files under the temporary directory that the server process holds open: the spooled
    parts of uploads that went to disk (anonymous temporary files)."""
    count = 0
    for fd in Path(f"/proc/{server.process.pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = str(fd.readlink())
            count += target.startswith(tempfile.gettempdir()) and target.endswith("(deleted)")
    return count


def _no_job(server: Server) -> None:
    ledger = SqlJobLedger.from_url(f"sqlite:///{server.workdir / 'var' / 'bgremover.db'}", migrate=False)
    try:
        assert sum(ledger.count_by_status().get(status, 0) for status in JobStatus) == 0
    finally:
        ledger.close()


def test_stalled_upload_is_408_and_its_spooled_file_is_gone(slow_server: Server) -> None:
    baseline = _spooled_temp_files(slow_server)
    with _connect(slow_server) as sock:
        sock.sendall(_upload_head(10_000_000) + PART_HEAD + b"\x89PNG" + b"x" * 1_500_000)  # > 1 MB: on disk
        sent = time.monotonic()
        time.sleep(0.4 * IDLE_S)
        assert _spooled_temp_files(slow_server) == baseline + 1  # the check below can fail
        status, headers, body = _read_response(sock)
        waited = time.monotonic() - sent
        assert status == 408
        assert headers["content-type"] == "application/problem+json"
        assert headers["connection"] == "close"
        problem = json.loads(body)
        assert problem["type"] == "urn:bgremover:problem:request-timeout"
        assert f"{IDLE_S:g} s" in problem["detail"]
        assert IDLE_S * 0.9 <= waited < IDLE_S + 5
        assert _closed_by_peer(sock)
    assert _spooled_temp_files(slow_server) == baseline
    _no_job(slow_server)


def test_trickling_upload_hits_the_overall_deadline(slow_server: Server) -> None:
    with _connect(slow_server) as sock:
        sock.sendall(_upload_head(1_000_000) + PART_HEAD)
        started = time.monotonic()
        sock.settimeout(IDLE_S / 3)
        response = b""
        while not response and time.monotonic() - started < UPLOAD_S + 10:
            with contextlib.suppress(OSError):
                sock.sendall(b"x")  # one byte, well within the idle timeout each time
            with contextlib.suppress(TimeoutError):
                response = sock.recv(65536, socket.MSG_PEEK)
        waited = time.monotonic() - started
        sock.settimeout(15)
        status, _, body = _read_response(sock)
    assert status == 408
    assert f"longer than {UPLOAD_S:g} s" in json.loads(body)["detail"]
    assert UPLOAD_S * 0.9 <= waited < UPLOAD_S + 5
    _no_job(slow_server)


def test_slowloris_request_head_is_cut_off(slow_server: Server) -> None:
    with _connect(slow_server) as sock:
        sock.sendall(b"POST /v1/remove-background HTTP/1.1\r\nHost: test\r\n")
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < HEAD_S + 10:
            try:
                sock.sendall(b"X-Slow: a\r\n")
            except OSError:
                closed = True
                break
            sock.settimeout(0.3)
            with contextlib.suppress(TimeoutError):
                closed = _closed_by_peer(sock)
        waited = time.monotonic() - started
    assert closed
    assert HEAD_S * 0.9 <= waited < HEAD_S + 5


def test_oversized_request_head_is_400(slow_server: Server) -> None:
    with _connect(slow_server) as sock:
        headers = "".join(f"X-Filler-{i}: {'a' * 1000}\r\n" for i in range(80))  # 80 KB of headers
        with contextlib.suppress(OSError):
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode())
        status, _, _ = _read_response(sock)
    assert status == 400


def test_file_part_over_the_image_limit_is_413_while_the_body_still_streams(slow_server: Server) -> None:
    """The body declares 50 MB and only 3.2 MB of it is ever sent: the answer must come from the part
    size alone (before the idle timeout could give a 408)."""
    with _connect(slow_server) as sock:
        sock.sendall(_upload_head(50_000_000) + PART_HEAD + b"\x89PNG" + b"x" * 3_200_000)
        sent = time.monotonic()
        status, _, body = _read_response(sock)
        waited = time.monotonic() - sent
    problem = json.loads(body)
    assert status == 413, problem
    assert problem["type"] == "urn:bgremover:problem:payload-too-large"
    assert (problem["filename"], problem["limit"]) == ("big.png", MAX_IMAGE_BYTES)
    assert waited < IDLE_S
    _no_job(slow_server)
