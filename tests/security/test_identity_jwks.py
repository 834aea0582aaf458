"""JWKS from a file or a real local HTTP server: loaded at start, rotated keys picked up by a refresh
that an unknown ``kid`` schedules off the request path, at most once per minimum interval."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from bgremover.settings import Settings
from bgremover.tenancy import TenantResolutionError, TenantResolver
from bgremover.tenancy.jwks import JwksSource


@dataclass
class SigningKey:
    kid: str
    private_pem: bytes
    public_pem: bytes
    jwk: dict

    def token(self, tenant: str = "acme", **header: object) -> str:
        body = {"tenant_id": tenant, "exp": int(time.time()) + 300}
        return jwt.encode(body, self.private_pem, algorithm="RS256", headers={"kid": self.kid, **header})


def signing_key(kid: str, **jwk_fields: object) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True), "kid": kid, **jwk_fields}
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningKey(kid, private_pem, public_pem, jwk)


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {kid: signing_key(kid, alg="RS256", use="sig") for kid in ("k1", "k2")}


def jwks(*entries: SigningKey) -> bytes:
    return json.dumps({"keys": [entry.jwk for entry in entries]}).encode()


@dataclass
class JwksServer:
    """A real HTTP server on a loopback port: ``body``/``status`` are its answer, ``hits`` counts GETs."""

    url: str
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for_hits(self, count: int, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.hits < count:
            assert time.monotonic() < deadline, f"{self.hits} fetches, expected {count}"
            time.sleep(0.01)


@pytest.fixture
def server() -> Iterator[JwksServer]:
    state = JwksServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.hits += 1
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def started() -> Iterator[Callable[..., TenantResolver]]:
    """Resolvers started as the API's lifespan starts them, and stopped after the test."""
    running: list[TenantResolver] = []

    def start(**fields: object) -> TenantResolver:
        res = TenantResolver(Settings(auth_mode="on", **fields))  # type: ignore[arg-type]
        res.start()
        running.append(res)
        return res

    yield start
    for res in running:
        res.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def refusal(res: TenantResolver, token: str) -> str:
    with pytest.raises(TenantResolutionError) as info:
        res.resolve(bearer(token))
    assert info.value.status == 401
    return info.value.detail


def eventually_accepted(res: TenantResolver, token: str, timeout_s: float = 5.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return res.resolve(bearer(token))
        except TenantResolutionError:
            assert time.monotonic() < deadline, "the rotated key was never accepted"
            time.sleep(0.02)


def test_rotated_key_is_accepted_after_the_refresh_an_unknown_kid_schedules(server, keys, started):
    server.body = jwks(keys["k1"])
    res = started(jwks_url=server.url, jwks_refresh_s=3600, jwks_min_refresh_interval_s=0.2)
    assert server.hits == 1  # loaded at start
    assert res.resolve(bearer(keys["k1"].token())) == "acme"
    server.body = jwks(keys["k2"])  # the identity provider rotates
    time.sleep(0.25)  # past the minimum interval since the start's fetch
    detail = refusal(res, keys["k2"].token())  # answered at once, not after a fetch
    assert "unknown key id" in detail and "retry" in detail
    server.wait_for_hits(2)
    assert eventually_accepted(res, keys["k2"].token()) == "acme"
    assert "unknown key id" in refusal(res, keys["k1"].token())  # the retired key is gone


def test_a_flood_of_unknown_kid_tokens_causes_one_fetch(server, keys, started):
    server.body = jwks(keys["k1"])
    res = started(jwks_url=server.url, jwks_refresh_s=3600, jwks_min_refresh_interval_s=1.0)
    time.sleep(1.05)
    forged = [signing_key(f"attacker-{i}").token() for i in range(3)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        details = list(pool.map(lambda i: refusal(res, forged[i % 3]), range(300)))
    assert all("unknown key id" in detail for detail in details)
    server.wait_for_hits(2)
    time.sleep(0.3)
    assert server.hits == 2  # the start's fetch and exactly one refresh
    for token in forged:
        refusal(res, token)
    time.sleep(0.3)
    assert server.hits == 2  # still within the minimum interval: no new fetch


def test_unknown_kid_within_the_minimum_interval_fetches_nothing(server, keys, started):
    server.body = jwks(keys["k1"])
    res = started(jwks_url=server.url, jwks_min_refresh_interval_s=30)
    for _ in range(50):
        refusal(res, keys["k2"].token())
    time.sleep(0.3)
    assert server.hits == 1


def test_a_failed_refresh_keeps_the_last_good_key_set(server, keys, started):
    server.body = jwks(keys["k1"])
    res = started(jwks_url=server.url, jwks_refresh_s=0.1)
    for status, body in ((500, b"oops"), (200, b"{not json"), (200, b'{"keys": []}')):
        server.status, server.body = status, body
        hits = server.hits
        server.wait_for_hits(hits + 2)  # fetches are sequential: the first of these two has been applied
        assert res.resolve(bearer(keys["k1"].token())) == "acme"


@pytest.mark.parametrize(
    ("status", "padding", "headers", "error"),
    [
        (200, 2048, {}, "larger than 1024 bytes"),  # a valid key set, but over the size cap
        (302, 0, {"Location": "https://elsewhere.example/jwks.json"}, "302"),  # redirects are not followed
        (404, 0, {}, "404"),
    ],
    ids=["too-large", "redirect", "not-found"],
)
def test_start_fails_when_the_first_key_set_cannot_be_read(
    server, keys, started, status, padding, headers, error
):
    server.status, server.headers = status, headers
    server.body = b" " * padding + jwks(keys["k1"])
    with pytest.raises(Exception, match=error):  # httpx's status error or the size cap's ValueError
        started(jwks_url=server.url, jwks_max_bytes=1024)


def test_plain_http_is_refused_except_for_loopback():
    with pytest.raises(ValueError, match="https"):
        JwksSource("http://idp.example/jwks.json", timeout_s=1, max_bytes=1024)
    with pytest.raises(ValueError, match="scheme"):
        JwksSource("ftp://idp.example/jwks.json", timeout_s=1, max_bytes=1024)
    JwksSource("http://127.0.0.1:1/jwks.json", timeout_s=1, max_bytes=1024)
    JwksSource("https://idp.example/jwks.json", timeout_s=1, max_bytes=1024)


@pytest.mark.parametrize("form", ["file-url", "bare-path"])
def test_key_set_from_a_file_rotates_after_an_unknown_kid(tmp_path: Path, keys, started, form):
    path = tmp_path / "jwks.json"
    path.write_bytes(jwks(keys["k1"]))
    url = path.as_uri() if form == "file-url" else str(path)
    res = started(jwks_url=url, jwks_refresh_s=3600, jwks_min_refresh_interval_s=0.1)
    assert res.resolve(bearer(keys["k1"].token())) == "acme"
    path.write_bytes(jwks(keys["k1"], keys["k2"]))
    time.sleep(0.15)
    assert "unknown key id" in refusal(res, keys["k2"].token())
    assert eventually_accepted(res, keys["k2"].token()) == "acme"


def test_each_jwk_verifies_only_with_its_own_algorithm(tmp_path: Path, started):
    """A JWK without ``alg`` is bound to the one its kty implies (RS256 for RSA): an HS256 token
    signed with the RSA public key's PEM (or its modulus) as the secret is refused."""
    plain = signing_key("plain")  # no alg, no use
    encryption = signing_key("enc", alg="RS256", use="enc")
    path = tmp_path / "jwks.json"
    path.write_bytes(jwks(plain, encryption))
    res = started(jwks_url=str(path), jwt_algorithms=["RS256", "PS256", "HS256"])
    assert res.resolve(bearer(plain.token())) == "acme"
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "plain"}).encode())
    payload = jwt.utils.base64url_encode(
        json.dumps({"tenant_id": "acme", "exp": int(time.time()) + 60}).encode()
    )
    signing_input = header + b"." + payload
    for secret in (plain.public_pem, plain.jwk["n"].encode()):
        signature = jwt.utils.base64url_encode(hmac.new(secret, signing_input, hashlib.sha256).digest())
        assert "algorithm not accepted" in refusal(res, (signing_input + b"." + signature).decode())
    ps256 = jwt.encode(
        {"tenant_id": "acme", "exp": int(time.time()) + 60},
        plain.private_pem,
        "PS256",
        headers={"kid": "plain"},
    )
    assert "algorithm not accepted" in refusal(res, ps256)
    assert "unknown key id" in refusal(res, encryption.token())  # encryption keys never verify


def test_the_api_loads_the_key_set_in_its_lifespan(make_client_factory, server, keys):
    server.body = jwks(keys["k1"])
    with make_client_factory(auth_mode="on", jwks_url=server.url) as client:
        assert server.hits == 1
        response = client.get(
            "/v1/jobs/0123456789abcdef", headers={"Authorization": f"Bearer {keys['k1'].token()}"}
        )
        assert response.status_code == 404  # authenticated as acme; no such job
        unknown = client.get("/v1/jobs/x", headers={"Authorization": f"Bearer {signing_key('k9').token()}"})
        assert unknown.status_code == 401 and "unknown key id" in unknown.json()["detail"]


@pytest.fixture
def make_client_factory(services, settings) -> Callable[..., TestClient]:
    from bgremover.api import create_app

    def make(**overrides: object) -> TestClient:
        app_settings = Settings(**{**settings.model_dump(), **overrides})
        return TestClient(create_app(services, app_settings), raise_server_exceptions=False)

    return make
