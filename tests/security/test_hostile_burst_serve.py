"""A real ``bg-remover serve`` (uvicorn with its guarded httptools protocol) under a burst of the hostile
requests the fuzz suites found or cover, sent as raw bytes from several threads at once: none is
answered 5xx, none leaves a traceback in the log, and the server is healthy afterwards."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from api.support import png_bytes
from e2e.e2e_server import Server, running_server
from security.hostile_images import corpus, valid_samples

PNG_B64 = base64.b64encode(png_bytes((4, 4))).decode()


def _request(method: str, path: str, body: bytes = b"", **headers: bytes | str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    headers.setdefault("Content-Length", str(len(body)))
    for name, value in headers.items():
        raw = value if isinstance(value, bytes) else value.encode()
        lines.append(name.replace("_", "-").encode() + b": " + raw)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _json(body: bytes, **headers: bytes | str) -> bytes:
    return _request("POST", "/v1/group-images", body, Content_Type="application/json", **headers)


def _multipart(
    content: bytes, content_type: bytes = b"multipart/form-data; boundary=x", cut: int = 0
) -> bytes:
    """A one-image multipart submit; ``cut`` bytes taken off its end (Content-Length says the rest)."""
    body = (
        b'--x\r\nContent-Disposition: form-data; name="images"; filename="f"\r\n\r\n'
        + content
        + b"\r\n--x--\r\n"
    )
    return _request("POST", "/v1/remove-background", body[: len(body) - cut], Content_Type=content_type)


def _burst() -> list[tuple[str, bytes]]:
    avif = valid_samples()["AVIF"]
    valid = json.dumps({"images": [{"filename": "a.png", "data": PNG_B64}]}).encode()
    return [
        ("deep-json", _json(b"[" * 50_000 + b"]" * 50_000)),
        ("deep-objects", _json(b'{"a":' * 20_000 + b"1" + b"}" * 20_000)),
        ("nan-option", _json(b'{"images": [], "threshold": NaN}')),
        ("huge-integer", _json(b'{"images": [], "margin": 1' + b"0" * 5000 + b"}")),
        (
            "invalid-utf8-json",
            _json(b'{"images": [{"filename": "\xff\xfe", "data": "' + PNG_B64.encode() + b'"}]}'),
        ),
        ("truncated-json", _json(valid[: len(valid) // 2])),
        ("bogus-charset", _multipart(png_bytes(), b"multipart/form-data; boundary=x; charset=bogus")),
        ("no-boundary", _multipart(png_bytes(), b"multipart/form-data")),
        ("truncated-multipart", _multipart(png_bytes(), cut=30)),
        ("damaged-avif", _multipart(avif[: len(avif) // 2])),
        ("text-chunk-bomb", _multipart(corpus()["png-ztxt-64mb"])),
        ("pixel-bomb", _multipart(corpus()["png-bomb-20000x20000"])),
        ("nul-job-id", _request("GET", "/v1/jobs/%00")),
        ("nul-image-id", _request("DELETE", "/v1/jobs/a%00b")),
        ("invalid-utf8-path", _request("GET", "/v1/jobs/%ff%fe/images/%c3%28/original")),
        ("long-job-id", _request("GET", "/v1/jobs/" + "a" * 8000)),
        ("unicode-content-length", _json(valid, Content_Length="\u00b2".encode("latin-1"))),
        ("5000-digit-content-length", _json(valid, Content_Length=b"9" * 5000)),
        ("hostile-tenant", _json(valid, X_Tenant_ID=b"\xff../x")),
        ("hostile-idempotency-key", _json(valid, Idempotency_Key=b"\x7f" * 300)),
        ("garbage-bearer", _json(valid, Authorization=b"Bearer a.b.c.d")),
        ("64kb-header", _json(valid, X_Padding=b"a" * 65_536)),
    ]


def _exchange(server: Server, raw: bytes) -> int | None:
    """The response status, or None when the server closed the connection without one."""
    url = urlsplit(server.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        # refused before the whole request was read: the status, if any, is still there to read
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    return int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("hostile-serve")
    with running_server(workdir, workdir / "models", workers=0, probe="/healthz") as running:
        yield running


def test_a_hostile_burst_gets_no_5xx_and_leaves_the_server_healthy(server):
    burst = _burst() * 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda item: (item[0], _exchange(server, item[1])), burst))
    assert all(status is None or status < 500 for _, status in statuses), statuses
    answered = dict(statuses)
    assert answered["deep-json"] == 400 and answered["nul-job-id"] == 404 and answered["damaged-avif"] == 202
    log = server.log.read_text(errors="replace")
    assert "unhandled error" not in log and "Traceback" not in log
    with server.client() as client:
        assert client.get("/healthz").status_code == 200
        accepted = client.post("/v1/group-images", files=[("images", ("ok.png", png_bytes(), "image/png"))])
        assert accepted.status_code == 202, accepted.text
        assert client.get(f"/v1/jobs/{accepted.json()['jobId']}").status_code == 200
