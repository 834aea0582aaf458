"""``Client``: the blocking client, performing ``ClientCore``'s flows with an ``httpx.Client``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from bgremover.client.files import FileInput
from bgremover.client.models import Job
from bgremover.client.protocol import Effect, Flow, NextEvent, Reply, Send
from bgremover.client.sse import ServerEvent, SseDecoder
from bgremover.client.transport import BaseClient, PartFile, reply_of, request_options, streams_body

T = TypeVar("T")


class Client(BaseClient[httpx.Client]):
    """``Client("http://127.0.0.1:8000", api_key=None, token=None, tenant=None)``; use it as a context
    manager, or ``close()`` it. Keywords: ``timeout`` (seconds), the ``retry`` and ``poll`` policies,
    and ``http``, a caller's own ``httpx.Client`` (proxies, TLS, event hooks), which is then left
    open; URLs are absolute, so its ``base_url`` does not matter."""

    def _new_http(self, timeout: httpx.Timeout) -> httpx.Client:
        return httpx.Client(timeout=timeout)

    def group_images(
        self,
        files: FileInput | list[FileInput],
        *,
        idempotency_key: str | None = None,
        direct: bool = False,
        **options: Any,
    ) -> Job:
        """Submit a grouping job (options: ``threshold``, ``remove_background``, cut-out options);
        ``direct=True`` sends the photos through upload slots, not in the submit's body."""
        return self._run(self._core.submission("group-images", files, options, idempotency_key, direct))

    def remove_background(
        self,
        files: FileInput | list[FileInput],
        *,
        idempotency_key: str | None = None,
        direct: bool = False,
        **options: Any,
    ) -> Job:
        """Submit a cut-out job (options: ``bg_color``, ``crop``, ``margin``, ``format``, ...)."""
        return self._run(self._core.submission("remove-background", files, options, idempotency_key, direct))

    def get_job(self, job: Job | str) -> Job:
        return self._run(self._core.get_job(job))

    def cancel(self, job: Job | str) -> Job:
        return self._run(self._core.cancel(job))

    def wait(self, job: Job | str, timeout: float | None = None) -> Job:
        """Block until the job is final; ``WaitTimeoutError`` after ``timeout`` seconds."""
        return self._run(self._core.wait(job, timeout))

    def download(self, job: Job | str, image_id: str, kind: str) -> bytes:
        """One output (``original``, ``thumbnail``, ``cutout`` or ``mask``) of one image."""
        return self._run(self._core.download(job, image_id, kind))

    def archive(self, job: Job | str, path: str | Path) -> Path:
        """The job's ZIP, streamed into ``path``."""
        return self._run(self._core.archive(job, path))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, flow: Flow[T]) -> T:
        with ExitStack() as stream:
            events: list[Iterator[ServerEvent | None]] = []
            try:
                effect: Effect = next(flow)
                while True:
                    try:
                        outcome = self._perform(effect, stream, events)
                    except httpx.TransportError as exc:
                        effect = flow.throw(exc)
                    else:
                        effect = flow.send(outcome)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def _perform(self, effect: Effect, stream: ExitStack, events: list[Iterator[ServerEvent | None]]) -> Any:
        if isinstance(effect, NextEvent):
            return next(events[-1], None)
        if not isinstance(effect, Send):
            time.sleep(effect.seconds)
            return None
        if effect.events:
            stream.close()  # the previous stream of this wait(), if any
            response = self._open(effect, stream)
            if streams_body(effect, response):
                events.append(_events(response))
            return reply_of(response, b"" if response.is_success else response.read())
        with ExitStack() as request:
            response = self._open(effect, request)
            if not streams_body(effect, response):
                return reply_of(response, response.read())
            assert effect.into is not None
            with PartFile(effect.into) as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            return Reply(response.status_code, response.headers)

    def _open(self, send: Send, stack: ExitStack) -> httpx.Response:
        options = request_options(send, stack, self._timeout)
        return stack.enter_context(self._http.stream(send.method, send.url, **options))


def _events(response: httpx.Response) -> Iterator[ServerEvent | None]:
    decoder = SseDecoder()
    for line in response.iter_lines():
        if (event := decoder.feed(line)) is not None:
            yield event
