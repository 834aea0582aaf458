"""What the blocking and the asyncio client share in performing a ``Send``: the httpx request it
becomes, and the file an output is streamed into (written beside its target, then renamed, so a
failed download never leaves a truncated file under the asked name)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from bgremover.client.protocol import ClientCore, PollPolicy, Reply, RetryPolicy, Send

H = TypeVar("H", httpx.Client, httpx.AsyncClient)


def request_options(send: Send, stack: ExitStack, timeout: httpx.Timeout) -> dict[str, Any]:
    """Keyword arguments of ``httpx.Client.stream`` for ``send``; upload files stay open on ``stack``.
    A ``content`` body is an iterator of chunks, sent with the ``Content-Length`` its ``Send`` names."""
    options: dict[str, Any] = {"headers": send.headers, "timeout": timeout}
    if send.read_timeout is not None:
        options["timeout"] = httpx.Timeout(timeout.connect, read=send.read_timeout)
    if send.uploads is not None:
        options["files"] = stack.enter_context(send.uploads.parts())
    if send.data:
        options["data"] = send.data
    if send.json is not None:
        options["json"] = send.json
    if send.content is not None:
        options["content"] = send.content.chunks(stack)
    return options


def reply_of(response: httpx.Response, content: bytes = b"") -> Reply:
    return Reply(response.status_code, response.headers, content)


def streams_body(send: Send, response: httpx.Response) -> bool:
    """Whether the body goes to a file (or stays open as events) instead of into memory."""
    return response.is_success and (send.into is not None or send.events)


class PartFile:
    """``with PartFile(path) as out: out.write(chunk)``: ``path`` appears only once all is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._part = path.with_name(f".{path.name}.part")

    def __enter__(self) -> PartFile:
        self._file = self._part.open("wb")
        return self

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._file.close()
        if kind is None:
            self._part.replace(self.path)
        else:
            self._part.unlink(missing_ok=True)


class BaseClient(Generic[H]):
    """Construction shared by ``Client`` and ``AsyncClient``: the core with its credentials and
    policies, the timeouts every request gets, and the httpx client (the caller's own, left open, or
    one made here and closed with the client)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        token: str | None = None,
        tenant: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        http: H | None = None,
    ) -> None:
        self._core = ClientCore(base_url, api_key=api_key, token=token, tenant=tenant, retry=retry, poll=poll)
        self._timeout = httpx.Timeout(timeout)
        self._http: H = http if http is not None else self._new_http(self._timeout)
        self._owns_http = http is None

    def _new_http(self, timeout: httpx.Timeout) -> H:
        raise NotImplementedError
