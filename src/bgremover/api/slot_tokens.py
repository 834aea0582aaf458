"""Upload slots as signed, self-contained tokens: which tenant, which upload, which image, what the
client declared (name, size, type) and until when. The API keeps no slot table: a token it signed
is proof of everything in it, on every API process and every ledger backend alike, and a token that
was altered, or that comes from another deployment, fails its HMAC.

A token is ``<base64url JSON claims>.<base64url HMAC-SHA256>``, short enough for a URL path."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass

# Without BGR_UPLOAD_SIGNING_KEY the slots are signed with a key of this process: enough for one API
# process (the embedded default); several API processes (Lambda, a load balancer) need the setting.
_PROCESS_KEY = secrets.token_bytes(32)


class SlotTokenError(Exception):
    """A token that is not one of ours (``expired`` False) or that is past its expiry (``expired``)."""

    def __init__(self, detail: str, *, expired: bool = False) -> None:
        super().__init__(detail)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class SlotClaims:
    """What a slot grants: one blob, ``image_id`` of upload ``upload_id`` (the future job's id), of
    exactly ``size`` bytes, for ``tenant`` only, until ``expires`` (Unix seconds)."""

    tenant: str
    upload_id: str
    image_id: str
    filename: str
    size: int
    content_type: str
    expires: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SlotSigner:
    def __init__(self, key: bytes | None) -> None:
        self._key = key or _PROCESS_KEY

    def _mac(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(self, claims: SlotClaims) -> str:
        payload = _b64encode(json.dumps(asdict(claims), separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, *, now: float | None = None) -> SlotClaims:
        """The claims of a token this deployment signed and that has not expired; ``SlotTokenError``
        otherwise. The MAC is compared in constant time before the claims are even parsed."""
        payload, _, mac = token.partition(".")
        if not payload or not token.isascii() or not hmac.compare_digest(mac, self._mac(payload)):
            raise SlotTokenError("the upload slot is not one this service issued (bad signature)")
        try:
            claims = SlotClaims(**json.loads(_b64decode(payload)))
        except (binascii.Error, ValueError, TypeError) as exc:  # signed by us, so only a key collision
            raise SlotTokenError("the upload slot's claims cannot be read") from exc
        if claims.expires <= (time.time() if now is None else now):
            raise SlotTokenError("the upload slot has expired; ask for new slots", expired=True)
        return claims
