"""uvicorn's httptools protocol with the two guards it lacks against slow or bloated request heads.

uvicorn times out only idle keep-alive connections: a client that opens a connection and trickles its
request line and headers (slowloris) holds it for ever, and httptools accepts headers of any size.
Here the head of every request must be complete within ``header_timeout_s`` of the connection opening
(or of the previous response on a keep-alive connection), else the connection is closed; and a head
over ``max_header_bytes`` is answered ``400`` and closed, as uvicorn does for any unparsable request.
Bodies are guarded in the application (``bgremover.api.uploads``: idle and total upload timeouts).
"""

from __future__ import annotations

import asyncio

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bgremover.observability.metrics import REFUSALS

MAX_HEADER_BYTES = 64 * 1024


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Set the limits with ``guarded_protocol``; uvicorn instantiates the class per connection."""

    header_timeout_s: float = 10.0
    max_header_bytes: int = MAX_HEADER_BYTES
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        next_is_parsed = bool(self.pipeline)  # a pipelined request's head has already arrived
        super().on_response_complete()
        if not next_is_parsed and not self.transport.is_closing():
            self._arm_header_timer()

    def _count_head(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            # Raised inside the parser's callback: uvicorn answers 400 and closes the connection.
            raise httptools.HttpParserError(f"request head over {self.max_header_bytes} bytes")

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _head_timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            REFUSALS.labels(reason="timeout").inc()
            self.transport.close()


def guarded_protocol(
    header_timeout_s: float, max_header_bytes: int = MAX_HEADER_BYTES
) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s, "max_header_bytes": max_header_bytes},
    )
