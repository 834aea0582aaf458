"""``AsyncClient``: the same operations as ``Client``, awaitable, performing ``ClientCore``'s flows
with an ``httpx.AsyncClient``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from bgremover.client.files import FileInput
from bgremover.client.models import Job
from bgremover.client.protocol import Effect, Flow, NextEvent, Reply, Send
from bgremover.client.sse import ServerEvent, SseDecoder
from bgremover.client.transport import BaseClient, PartFile, reply_of, request_options, streams_body

T = TypeVar("T")


class AsyncClient(BaseClient[httpx.AsyncClient]):
    """``async with AsyncClient("http://127.0.0.1:8000", api_key=...) as client:``; the keywords of
    ``Client``, with ``http`` an ``httpx.AsyncClient``."""

    def _new_http(self, timeout: httpx.Timeout) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout)

    async def group_images(
        self,
        files: FileInput | list[FileInput],
        *,
        idempotency_key: str | None = None,
        direct: bool = False,
        **options: Any,
    ) -> Job:
        return await self._run(self._core.submission("group-images", files, options, idempotency_key, direct))

    async def remove_background(
        self,
        files: FileInput | list[FileInput],
        *,
        idempotency_key: str | None = None,
        direct: bool = False,
        **options: Any,
    ) -> Job:
        return await self._run(
            self._core.submission("remove-background", files, options, idempotency_key, direct)
        )

    async def get_job(self, job: Job | str) -> Job:
        return await self._run(self._core.get_job(job))

    async def cancel(self, job: Job | str) -> Job:
        return await self._run(self._core.cancel(job))

    async def wait(self, job: Job | str, timeout: float | None = None) -> Job:
        return await self._run(self._core.wait(job, timeout))

    async def download(self, job: Job | str, image_id: str, kind: str) -> bytes:
        return await self._run(self._core.download(job, image_id, kind))

    async def archive(self, job: Job | str, path: str | Path) -> Path:
        return await self._run(self._core.archive(job, path))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self, flow: Flow[T]) -> T:
        async with AsyncExitStack() as stream:
            events: list[AsyncIterator[ServerEvent]] = []
            try:
                effect: Effect = next(flow)
                while True:
                    try:
                        outcome = await self._perform(effect, stream, events)
                    except httpx.TransportError as exc:
                        effect = flow.throw(exc)
                    else:
                        effect = flow.send(outcome)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    async def _perform(
        self, effect: Effect, stream: AsyncExitStack, events: list[AsyncIterator[ServerEvent]]
    ) -> Any:
        if isinstance(effect, NextEvent):
            return await anext(events[-1], None)
        if not isinstance(effect, Send):
            await anyio.sleep(effect.seconds)
            return None
        if effect.events:
            await stream.aclose()  # the previous stream of this wait(), if any
            response = await self._open(effect, stream)
            if streams_body(effect, response):
                events.append(_events(response))
            return reply_of(response, b"" if response.is_success else await response.aread())
        async with AsyncExitStack() as request:
            response = await self._open(effect, request)
            if not streams_body(effect, response):
                return reply_of(response, await response.aread())
            assert effect.into is not None
            with PartFile(effect.into) as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
            return Reply(response.status_code, response.headers)

    async def _open(self, send: Send, stack: AsyncExitStack) -> httpx.Response:
        files = stack.enter_context(ExitStack())
        options = request_options(send, files, self._timeout)
        if "content" in options:  # httpx.AsyncClient streams an async iterator only
            options["content"] = _async_chunks(options["content"])
        return await stack.enter_async_context(self._http.stream(send.method, send.url, **options))


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:  # a local file's read, as httpx's own multipart reads files in async code
        yield chunk


async def _events(response: httpx.Response) -> AsyncIterator[ServerEvent]:
    decoder = SseDecoder()
    async for line in response.aiter_lines():
        if (event := decoder.feed(line)) is not None:
            yield event
