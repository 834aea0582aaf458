"""What a webhook says on the wire: the stored payload rendered with an absolute ``statusUrl``.

The event names and the payload itself are outbox records, defined beside the ledger port
(``bgremover.ledger.announcement``) and re-exported here for the webhook feature's users.
"""

from __future__ import annotations

import json
from typing import Any

from bgremover.ledger.announcement import WebhookEvent, event_for_status, event_payload, utc_timestamp

__all__ = ["WebhookEvent", "event_for_status", "event_payload", "render_body", "utc_timestamp"]


def render_body(payload: dict[str, Any], public_base_url: str) -> bytes:
    """The exact bytes that are signed and sent: compact JSON, ``statusUrl`` made absolute."""
    data = dict(payload.get("data", {}))
    path = data.get("statusUrl")
    if isinstance(path, str) and path.startswith("/"):
        data["statusUrl"] = public_base_url.rstrip("/") + path
    return json.dumps({**payload, "data": data}, separators=(",", ":")).encode()
