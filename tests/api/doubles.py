"""Named test doubles, each standing in for one failure of a real backend."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import event


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


class CountingLedger:
    """The real ledger, with every method call counted by name (``calls``) and every SQL statement its
    engine sends (``statements``): what a route costs in ledger round trips."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self.calls: Counter[str] = Counter()
        self.statements = 0
        event.listen(ledger.engine, "before_cursor_execute", self._statement)

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def reset(self) -> None:
        self.calls.clear()
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._ledger, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted
