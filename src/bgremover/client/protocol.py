"""What the client does, written once for ``Client`` and ``AsyncClient``: each operation is a generator
that yields the I/O it needs (``Send`` a request, ``Sleep``, read the ``NextEvent`` of an SSE stream)
and receives the outcome; the two clients only perform those effects, blocking or awaiting. So request
building, problem parsing, the retry policy, SSE following and the polling fallback exist once.

Transport failures (connection refused, reset, timeouts) are thrown into the generator as the httpx
exception, where the retry policy decides."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeAlias, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import httpx

from bgremover.client.errors import ApiError, WaitTimeoutError
from bgremover.client.files import FileInput, Source, Uploads
from bgremover.client.models import Job, parse_accepted, parse_job
from bgremover.client.sse import ServerEvent

RETRYABLE_STATUSES = frozenset({429, 503})
_SLOT_USED = frozenset({409, 412})  # a second PUT to a slot: on the API, on S3 (If-None-Match)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NO_EVENTS = frozenset({404, 405, 406, 501})  # the job exists: the server has no event stream


@dataclass(frozen=True, slots=True)
class Send:
    """One HTTP exchange. The body: ``uploads`` as multipart parts (with the form ``data``), a
    ``json`` document, or one photo's bytes as the whole ``content``. ``into``: a 2xx body is
    streamed into that file, not kept in memory; ``events``: the response is kept open as an SSE
    stream that ``NextEvent`` reads."""

    method: str
    url: str
    headers: dict[str, str]
    uploads: Uploads | None = None
    data: dict[str, str] | None = None
    json: Any = None
    content: Source | None = None
    into: Path | None = None
    events: bool = False
    read_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class NextEvent:
    """The next event of the open SSE stream, or ``None`` once the server has closed it."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    content: bytes = b""


Effect: TypeAlias = Send | Sleep | NextEvent
T = TypeVar("T")
Flow: TypeAlias = Generator[Effect, Any, T]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of 429, 503 and transport errors: ``Retry-After`` when the server sends one (up to
    ``max_retry_after_s``: a longer wait is the caller's decision, so the error is raised), else
    exponential backoff with full jitter. Every request is safe to repeat: reads are, and each
    submit carries one ``Idempotency-Key`` over all its attempts."""

    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; ``None``: give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """``wait()`` without an event stream: the first look after ``initial_s``, then ``factor`` times
    longer each time, up to ``max_s``. An SSE stream silent for ``stream_idle_s`` (the server sends
    heartbeats far more often) is reopened from the last event id."""

    initial_s: float = 0.5
    factor: float = 1.5
    max_s: float = 5.0
    stream_idle_s: float = 60.0


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(slots=True)
class _Deadline:
    job_id: str
    timeout: float | None
    ends: float = field(init=False)

    def __post_init__(self) -> None:
        self.ends = time.monotonic() + self.timeout if self.timeout is not None else float("inf")

    def bounded(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.ends - time.monotonic()))

    def check(self) -> None:
        if time.monotonic() >= self.ends:
            raise WaitTimeoutError(self.job_id, self.timeout or 0.0)


def api_error(reply: Reply) -> ApiError:
    """The problem a non-2xx reply carries; a body that is not one (a proxy's HTML page) becomes the
    ``detail`` of an ``about:blank`` problem."""
    try:
        problem = json.loads(reply.content)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        detail = reply.content[:500].decode("utf-8", "replace")
        problem = {"type": "about:blank", "title": f"HTTP {reply.status}", "status": reply.status}
        problem["detail"] = detail
    return ApiError(reply.status, problem, retry_after_seconds(reply.headers.get("retry-after")))


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value)
    return str(value)


def _declared(source: Source) -> dict[str, Any]:
    """A photo as ``POST /v1/uploads`` takes it; a type that is not an image's is left to the
    server, which reads the photo's own from its bytes at the submit."""
    declared: dict[str, Any] = {"filename": source.filename, "size": source.size()}
    if source.content_type.startswith("image/"):
        declared["contentType"] = source.content_type
    return declared


def job_id_of(job: Job | str) -> str:
    return job.job_id if isinstance(job, Job) else job


class ClientCore:
    """The state one client keeps (where, who, how patiently) and its operations as flows."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        tenant: str | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.credentials: dict[str, str] = {}
        if api_key:
            self.credentials["X-API-Key"] = api_key
        if token:
            self.credentials["Authorization"] = f"Bearer {token}"
        if tenant:
            self.credentials["X-Tenant-ID"] = tenant
        self.events_supported: bool | None = None  # learnt on the first wait()

    def url(self, *segments: str) -> str:
        return urljoin(self.base_url, "/".join(quote(segment, safe="") for segment in segments))

    def _request(self, method: str, url: str, **fields: Any) -> Send:
        return Send(method, url, dict(self.credentials), **fields)

    def exchange(self, send: Send, *, replayable: bool = True) -> Flow[Reply]:
        """``send``, retried per the policy; the final reply whatever its status."""
        attempt = 0
        while True:
            attempt += 1
            try:
                reply = yield send
            except httpx.TransportError:
                delay = self.retry.delay(attempt, None) if replayable else None
                if delay is None:
                    raise
                yield Sleep(delay)
                continue
            if reply.status not in RETRYABLE_STATUSES or not replayable:
                return reply
            delay = self.retry.delay(attempt, retry_after_seconds(reply.headers.get("retry-after")))
            if delay is None:
                return reply
            yield Sleep(delay)

    def _json(self, send: Send) -> Flow[Any]:
        reply = yield from self.exchange(send)
        if not 200 <= reply.status < 300:
            raise api_error(reply)
        return json.loads(reply.content)

    def submit(
        self, kind: str, files: FileInput | list[FileInput], options: dict[str, Any], key: str | None
    ) -> Flow[Job]:
        """POST the photos with one ``Idempotency-Key`` for every attempt: a retried submit whose
        first attempt did reach the service returns that first job instead of making a second."""
        uploads = Uploads.of(files)
        form = {name: _form_value(value) for name, value in options.items() if value is not None}
        send = self._request("POST", self.url("v1", kind), uploads=uploads, data=form)
        send.headers["Idempotency-Key"] = key or uuid.uuid4().hex
        reply = yield from self.exchange(send, replayable=uploads.replayable)
        if reply.status != 202:
            raise api_error(reply)
        return parse_accepted(json.loads(reply.content))

    def submission(
        self,
        kind: str,
        files: FileInput | list[FileInput],
        options: dict[str, Any],
        key: str | None,
        direct: bool,
    ) -> Flow[Job]:
        """A submit in the photos' body, or through upload slots when ``direct``; there the upload id
        is the idempotency key, so a key of the caller's has no use and is refused."""
        if not direct:
            return self.submit(kind, files, options, key)
        if key is not None:
            raise ValueError("a direct upload is idempotent by its upload id: pass no idempotency_key")
        return self.submit_direct(kind, files, options)

    def submit_direct(
        self, kind: str, files: FileInput | list[FileInput], options: dict[str, Any]
    ) -> Flow[Job]:
        """The direct-upload flow: one upload slot per photo, each photo PUT to its slot's URL, then
        the submit by reference. Every step is retried per the policy: a second set of slots is
        harmless, and the upload id is the submit's idempotency key on the server, so a retried
        submit returns the first job."""
        uploads = Uploads.of(files)
        declared = [_declared(source) for source in uploads.sources]  # sizes first: no request yet
        send = self._request("POST", self.url("v1", "uploads"), json={"files": declared})
        slots = (yield from self._json(send))["slots"]
        for slot, source in zip(slots, uploads.sources, strict=True):
            yield from self._put(slot, source)
        body = {"uploads": [slot["slot"] for slot in slots]}
        body |= {name: value for name, value in options.items() if value is not None}
        reply = yield from self.exchange(self._request("POST", self.url("v1", kind), json=body))
        if reply.status != 202:
            raise api_error(reply)
        return parse_accepted(json.loads(reply.content))

    def _put(self, slot: dict[str, Any], source: Source) -> Flow[None]:
        """One photo to its slot, with the slot's headers only: on S3 the URL is presigned and takes
        no credentials of ours. A slot is signed for this upload alone, so "already used" after a
        retry means an earlier attempt stored the whole photo (neither store keeps a partial one)."""
        headers = {**slot["headers"], "Content-Length": str(source.size())}
        send = Send(slot["method"], slot["url"], headers, content=source)
        reply = yield from self.exchange(send, replayable=source.replayable)
        if not 200 <= reply.status < 300 and reply.status not in _SLOT_USED:
            raise api_error(reply)

    def get_job(self, job: Job | str) -> Flow[Job]:
        return parse_job(
            (yield from self._json(self._request("GET", self.url("v1", "jobs", job_id_of(job)))))
        )

    def cancel(self, job: Job | str) -> Flow[Job]:
        send = self._request("DELETE", self.url("v1", "jobs", job_id_of(job)))
        return parse_job((yield from self._json(send)))

    def wait(self, job: Job | str, timeout: float | None) -> Flow[Job]:
        """The job once final: followed on its SSE stream where the server has one, else polled."""
        deadline = _Deadline(job_id_of(job), timeout)
        current = yield from self.get_job(job)
        if current.is_final:
            return current
        if self.events_supported is not False:
            followed = yield from self._follow(current, deadline)
            if followed is not None:
                return followed
        return (yield from self._poll(current, deadline))

    def _follow(self, job: Job, deadline: _Deadline) -> Flow[Job | None]:
        """Read the job's event stream until its ``final`` event, reopening it from the last event id
        when it drops or idles; ``None`` when there is no stream (or it keeps failing): poll then."""
        url, last_id, failures = self.url("v1", "jobs", job.job_id, "events"), None, 0
        while failures <= self.retry.attempts:
            send = self._request("GET", url, events=True, read_timeout=self._idle(deadline))
            send.headers["Accept"] = "text/event-stream"
            if last_id is not None:
                send.headers["Last-Event-ID"] = last_id
            retry_after = None
            try:
                reply = yield send
                retry_after = retry_after_seconds(reply.headers.get("retry-after"))
                if reply.status in _NO_EVENTS:
                    self.events_supported = False
                    return None
                if reply.status == 200:
                    self.events_supported = True
                    while (event := (yield NextEvent())) is not None:
                        last_id, failures = event.id or last_id, 0
                        job = self._event_job(event, job)
                        if event.event == "final" or job.is_final:
                            return job
                elif reply.status not in RETRYABLE_STATUSES:
                    raise api_error(reply)
            except httpx.TransportError:
                pass
            deadline.check()
            failures += 1
            yield Sleep(deadline.bounded(self.retry.delay(1, retry_after) or 0.0))
        return None

    def _idle(self, deadline: _Deadline) -> float:
        return max(0.01, deadline.bounded(self.poll.stream_idle_s))

    @staticmethod
    def _event_job(event: ServerEvent, job: Job) -> Job:
        if event.event not in ("progress", "final"):
            return job
        return parse_job(json.loads(event.data))

    def _poll(self, job: Job, deadline: _Deadline) -> Flow[Job]:
        delay = self.poll.initial_s
        while True:
            yield Sleep(deadline.bounded(delay))
            job = yield from self.get_job(job)
            if job.is_final:
                return job
            deadline.check()
            delay = min(delay * self.poll.factor, self.poll.max_s)

    def fetch(self, url: str, into: Path | None = None) -> Flow[Reply]:
        """GET an output, following redirects by hand: credentials go only to the API's own origin,
        never to the presigned blob-store URL a redirect names."""
        send = self._request("GET", url, into=into)
        for _ in range(5):
            reply = yield from self.exchange(send)
            if reply.status not in _REDIRECTS or "location" not in reply.headers:
                break
            target = urljoin(send.url, reply.headers["location"])
            headers = dict(self.credentials) if _origin(target) == _origin(self.base_url) else {}
            send = Send("GET", target, headers, into=into)
        if not 200 <= reply.status < 300:
            raise api_error(reply)
        return reply

    def download(self, job: Job | str, image_id: str, kind: str) -> Flow[bytes]:
        url = self.url("v1", "jobs", job_id_of(job), "images", image_id, kind)
        return (yield from self.fetch(url)).content

    def archive(self, job: Job | str, path: str | Path) -> Flow[Path]:
        target = Path(path)
        yield from self.fetch(self.url("v1", "jobs", job_id_of(job), "archive"), into=target)
        return target


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
