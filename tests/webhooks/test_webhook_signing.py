"""Standard Webhooks signatures: a fixed vector computed independently, interoperability with the
reference ``standardwebhooks`` package in both directions, and every way ``verify`` must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from bgremover.webhooks import (
    WebhookVerificationError,
    event_payload,
    generate_secret,
    render_body,
    sign,
    signed_headers,
    verify,
)
from bgremover.webhooks.signing import secret_key

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
TIMESTAMP = 1_700_000_000
BODY = b'{"type":"job.succeeded","data":{"jobId":"j1"}}'


def test_the_signature_is_base64_hmac_sha256_of_id_timestamp_and_body() -> None:
    expected = hmac.new(KEY, b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1700000000." + BODY, hashlib.sha256).digest()
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == "v1," + base64.b64encode(expected).decode()


def test_the_published_standard_webhooks_vector() -> None:
    """The example of the Standard Webhooks / Svix documentation (also what ``openssl dgst -sha256
    -mac HMAC`` gives for it)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_reference_library_verifies_our_messages_and_we_verify_its() -> None:
    secret = generate_secret()
    headers = signed_headers(secret, MSG_ID, BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    theirs = Webhook(secret).sign(MSG_ID, datetime.now(UTC), BODY.decode())
    stamp = headers["webhook-timestamp"]
    reference = {"webhook-id": MSG_ID, "webhook-timestamp": stamp, "webhook-signature": theirs}
    assert verify(secret, BODY, reference, now=float(stamp)) == json.loads(BODY)


def test_verify_accepts_any_matching_signature_and_header_case() -> None:
    headers = signed_headers(SECRET, MSG_ID, BODY, now=TIMESTAMP)
    headers["webhook-signature"] = f"v2,xyz v1,bm90LXRoaXM= {headers['webhook-signature']}"
    shouted = {key.upper(): value for key, value in headers.items()}
    assert verify(SECRET, BODY, shouted, now=TIMESTAMP + 10) == json.loads(BODY)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b + b" "), "no matching"),  # the body was altered
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "no matching"),  # replayed under a new id
        (lambda h, b: ({**h, "webhook-timestamp": str(TIMESTAMP - 301)}, b), "from now"),  # too old
        (lambda h, b: ({**h, "webhook-timestamp": str(TIMESTAMP + 301)}, b), "from now"),  # too new
        (lambda h, b: ({**h, "webhook-timestamp": "yesterday"}, b), "Unix time"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing"),
        (lambda h, b: ({**h, "webhook-signature": "v1"}, b), "no matching"),  # malformed, no ValueError
        (lambda h, b: ({**h, "webhook-signature": "v1,%%%"}, b), "no matching"),
    ],
)
def test_verify_refuses(change, reason: str) -> None:  # type: ignore[no-untyped-def]
    headers, body = change(signed_headers(SECRET, MSG_ID, BODY, now=TIMESTAMP), BODY)
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(SECRET, body, headers, now=TIMESTAMP)


def test_verify_refuses_another_secret_and_honours_the_tolerance() -> None:
    headers = signed_headers(SECRET, MSG_ID, BODY, now=TIMESTAMP)
    with pytest.raises(WebhookVerificationError):
        verify(generate_secret(), BODY, headers, now=TIMESTAMP)
    assert verify(SECRET, BODY, headers, now=TIMESTAMP + 3000, tolerance_s=3600)
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, BODY, headers, now=TIMESTAMP + 61, tolerance_s=60)


def test_secrets() -> None:
    assert len(secret_key(generate_secret())) == 32
    assert secret_key(base64.b64encode(KEY).decode()) == KEY  # the prefix is optional
    for bad in ("whsec_", "whsec_not base64!"):
        with pytest.raises(ValueError):
            secret_key(bad)


def test_the_body_is_small_and_its_status_url_absolute() -> None:
    payload = event_payload("j1", "acme", "failed", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    body = json.loads(render_body(payload, "https://api.example.com/bgr/"))
    assert body == {
        "type": "job.failed",
        "timestamp": "2026-01-02T03:04:05Z",
        "data": {
            "jobId": "j1",
            "tenantId": "acme",
            "status": "failed",
            "statusUrl": "https://api.example.com/bgr/v1/jobs/j1",
        },
    }
    assert payload["data"]["statusUrl"] == "/v1/jobs/j1"  # the stored payload is left as it was
