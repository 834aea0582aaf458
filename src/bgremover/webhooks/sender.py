"""One webhook POST: signed body out, status code back, the response body never read.

A receiver is outside the service's control, so every attempt is bounded: connect and read/write
timeouts, no redirects followed (a 3xx is a failure, not an invitation to call another host), and the
response streamed and closed unread so that a huge or endless answer costs nothing. Only a 2xx
delivers.
"""

from __future__ import annotations

import httpx

USER_AGENT = "bg-remover-webhooks/1"


class WebhookSender:
    def __init__(
        self,
        *,
        connect_timeout_s: float = 5.0,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": USER_AGENT},
            trust_env=False,  # no proxy or netrc credentials from the worker's environment
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """Send once; ``None`` when the receiver answered 2xx, else why not (for ``lastError``)."""
        try:
            with self._client.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"

    def close(self) -> None:
        self._client.close()
