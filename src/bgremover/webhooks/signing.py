"""Standard Webhooks signatures (https://www.standardwebhooks.com), with the standard library's HMAC.

A message is signed as ``base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))`` and
sent in the ``webhook-signature`` header as ``v1,<signature>``; the key is the base64 part of a
``whsec_...`` secret. The id stays the same across retries (receivers deduplicate on it); the
timestamp is the time of each attempt, so a receiver can refuse replays older than its tolerance.

Why not the ``standardwebhooks`` package: its ``verify`` lets malformed headers escape as
``ValueError`` and fixes the tolerance at five minutes. The tests check these functions against it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from bgremover.params.config import SECRET_PREFIX, secret_key

DEFAULT_TOLERANCE_S = 300.0


class WebhookVerificationError(Exception):
    """The message is not authentic, or is too old or too new to be accepted."""


def generate_secret(size: int = 32) -> str:
    """A fresh random secret in the standard's ``whsec_`` form (give it to the receiver too)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(size)).decode()


def _to_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value for one message: ``v1,<base64 HMAC-SHA256>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + _to_bytes(body)
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, msg_id: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers of one delivery attempt, signed at ``now`` (Unix seconds, default: the clock)."""
    timestamp = int(time.time() if now is None else now)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Any:
    """For receivers: check a webhook's signature and age, and return its parsed JSON body.

    ``body`` must be the raw request body, byte for byte (not re-serialised JSON). Raises
    ``WebhookVerificationError`` when a header is missing or malformed, the timestamp is further than
    ``tolerance_s`` from ``now`` (a replay, or a skewed clock), or no ``v1`` signature matches.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    msg_id, stamp, signatures = (lowered.get(f"webhook-{h}") for h in ("id", "timestamp", "signature"))
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a Unix time in seconds") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError(f"webhook-timestamp is more than {tolerance_s:g} s from now")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return json.loads(_to_bytes(body))
    raise WebhookVerificationError("no matching v1 signature")
