"""Named test doubles, each standing in for one failure of a real backend."""

from __future__ import annotations

import threading


class HangingDispatcher:
    """A queue whose ``enqueue`` never returns and ignores its timeout: the worst backend the
    request path must survive. ``release`` ends the hang so the test leaves no blocked thread."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []

    def enqueue(self, job_id: str, *, timeout: float) -> None:
        self.calls.append(job_id)
        self.release.wait(60)

    def depth(self) -> int:
        return 0

    def ping(self) -> None:
        return None
