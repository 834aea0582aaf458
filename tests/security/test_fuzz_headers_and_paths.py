"""Property-based fuzzing of the headers the API parses before a job exists: the tenant header, the
idempotency key, the request id, Content-Type and Content-Length on a submit; with auth on, API keys,
Bearer tokens (garbage, and well signed tokens carrying hostile headers and claims), the Host and the
tenant header beside them. The answer is always the expected success or a precise 4xx problem, in
bounded time, and the server stays healthy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from api.support import assert_problem, png_bytes
from security.fuzz_support import HEADER_VALUES, assert_answered_properly, fuzzed, timed

HS_SECRET = "a-shared-secret-of-at-least-32-bytes!"
API_KEY = "static-key-of-acme-0123456789abcdef"
PNG = png_bytes((4, 4))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: object, claims: object) -> str:
    """A token with a valid HMAC signature under the deployment's key, whatever its header and claims."""
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(HS_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


good_header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}
hostile_headers = st.one_of(
    st.just(good_header),
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u", "b64"]), json_values, max_size=4
    ).map(lambda extra: {**good_header, **extra}),
    json_values,
)
hostile_claims = st.one_of(
    st.fixed_dictionaries(
        {"tenant_id": st.just("acme") | json_values, "exp": st.just(int(time.time()) + 3600) | json_values},
        optional={"nbf": json_values, "iat": json_values, "aud": json_values, "iss": json_values},
    ),
    json_values,
)
tokens = st.one_of(
    st.builds(_signed, hostile_headers, hostile_claims),
    st.text(max_size=200),
    st.lists(st.text(alphabet="abcXYZ012-_=+/", max_size=40), min_size=1, max_size=5).map(".".join),
)


@fuzzed
@given(
    tenant=HEADER_VALUES,
    idempotency_key=HEADER_VALUES,
    request_id=HEADER_VALUES,
    content_length=HEADER_VALUES,
    extra_type=st.sampled_from([b"", b"; charset=utf-8", b"; charset=\xff", b";;", b"; boundary=x"]),
)
@example(tenant=b"acme", idempotency_key=b"k", request_id=b"r", content_length=b"\xb2", extra_type=b"")
@example(tenant=b"acme", idempotency_key=b"k", request_id=b"r", content_length=b"9" * 5000, extra_type=b"")
def test_submit_headers_are_202_or_a_4xx_problem(
    fuzz_client, tenant, idempotency_key, request_id, content_length, extra_type
):
    body = json.dumps({"images": [{"filename": "a.png", "data": base64.b64encode(PNG).decode()}]}).encode()
    headers = {
        "X-Tenant-ID": tenant,
        "Idempotency-Key": idempotency_key,
        "X-Request-ID": request_id,
        "Content-Type": b"application/json" + extra_type,
        "Content-Length": content_length,
    }
    response = timed(lambda: fuzz_client.post("/v1/group-images", content=body, headers=headers))
    assert_answered_properly(response)


def test_a_content_length_that_is_no_ascii_number_does_not_stop_the_body_being_counted(make_client):
    """'²' passes ``str.isdigit`` and 5,000 digits pass it too; neither reaches ``int`` any more."""
    client = make_client(max_request_bytes=100)
    for declared in (b"\xb2", b"9" * 5000):
        response = client.post(
            "/v1/group-images",
            content=b"{" + b" " * 200 + b"}",
            headers={"Content-Type": "application/json", "Content-Length": declared},
        )
        assert_problem(response, 413, "payload-too-large")


@pytest.fixture
def auth_client(make_client):
    client = make_client(
        auth_mode="on",
        api_keys={"acme": API_KEY},
        jwt_keys={"k1": HS_SECRET},
        jwt_algorithms=["HS256"],
        tenant_host_suffix="api.example.com",
        trust_tenant_header=True,  # the header alone then names a tenant: its parser is reached too
    )
    with client:  # the lifespan loads the stored keys
        yield client
        assert client.get("/v1/jobs/0123", headers={"X-API-Key": API_KEY}).status_code == 404
        assert client.get("/healthz").status_code == 200


@fuzzed
@given(
    api_key=st.none() | HEADER_VALUES,
    authorization=st.none()
    | st.builds(
        lambda scheme, token: scheme + token.encode(),
        st.sampled_from([b"Bearer ", b"bearer  ", b"Basic ", b""]),
        tokens,
    )
    | HEADER_VALUES,
    host=st.none()
    | HEADER_VALUES
    | st.sampled_from([b"acme.api.example.com", b"other.api.example.com:8000", b".api.example.com"]),
    tenant=st.none() | HEADER_VALUES,
)
@example(
    api_key=None,
    authorization=b"Bearer " + _signed({"alg": "HS256", "kid": ["k1"]}, {}).encode(),
    host=None,
    tenant=None,
)
@example(
    api_key=None,
    authorization=b"Bearer " + _signed(good_header, {"tenant_id": "acme", "exp": 1e308 * 10}).encode(),
    host=None,
    tenant=None,
)
def test_credentials_are_answered_401_400_403_or_404(auth_client, api_key, authorization, host, tenant):
    headers = {
        name: value
        for name, value in (
            ("X-API-Key", api_key),
            ("Authorization", authorization),
            ("Host", host),
            ("X-Tenant-ID", tenant),
        )
        if value is not None
    }
    response = timed(lambda: auth_client.get("/v1/jobs/0123456789abcdef0123456789abcdef", headers=headers))
    assert_answered_properly(response, accepted=404)
