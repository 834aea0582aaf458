"""Server-Sent Events, decoded line by line as the WHATWG HTML standard says (httpx splits the lines;
nothing in the client's dependencies parses the fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerEvent:
    event: str
    data: str
    id: str | None


class SseDecoder:
    """Feed it the stream's lines; it returns an event at each blank line that ends one. Comment lines
    (``: ping`` heartbeats) are skipped; ``last_event_id`` is what ``Last-Event-ID`` resumes from."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        return None

    def _dispatch(self) -> ServerEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerEvent(event, "\n".join(data), self.last_event_id)
