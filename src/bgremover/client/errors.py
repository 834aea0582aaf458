"""The client's two exceptions: a problem answered by the service, and a wait that ran out of time."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refusal or failure answered by the service as an RFC 9457 problem (or, from something in
    front of it, as plain text): one exception type, carrying the problem's fields."""

    def __init__(self, status: int, problem: dict[str, Any], retry_after: float | None = None) -> None:
        self.status = status
        self.problem = problem
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", ""))
        self.detail: str = str(problem.get("detail", ""))
        self.request_id: str | None = problem.get("requestId")
        self.retry_after = retry_after
        super().__init__(f"{status} {self.title}: {self.detail}")

    @property
    def slug(self) -> str:
        """The last part of ``type``, e.g. ``rate-limited`` for ``urn:bgremover:problem:rate-limited``."""
        return self.type.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


class WaitTimeoutError(TimeoutError):
    """``wait()`` reached its timeout before the job was final; the job goes on running."""

    def __init__(self, job_id: str, timeout: float) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not final after {timeout:g} s")
