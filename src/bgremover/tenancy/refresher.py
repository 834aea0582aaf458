"""Keeps an in-memory snapshot fresh from a daemon thread, so the request path never does I/O.

``start`` loads once synchronously (a deployment whose keys cannot be read fails at start, visibly),
then a thread reloads every ``interval_s``. ``request`` asks for an early reload without waiting for
it (used when a token names an unknown key id); early reloads are rate-limited to one per
``min_interval_s`` counted from the last attempt of any kind, so a flood of bad tokens costs at most
one fetch per interval. A reload that fails is logged and counted
(``bgr_credential_refresh_failures_total``) and the previous snapshot stays in use; the time of the
last good one (``bgr_credential_last_refresh_timestamp_seconds``) lets an alert say when that has gone on
too long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bgremover.observability.logging import get_logger
from bgremover.observability.metrics import CREDENTIAL_REFRESH_FAILURES, CREDENTIAL_REFRESHED

log = get_logger(__name__)


class BackgroundRefresher:
    def __init__(
        self,
        name: str,
        refresh: Callable[[], None],
        *,
        interval_s: float,
        min_interval_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._refresh = refresh
        self._interval_s = interval_s
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_attempt = float("-inf")
        self._pending = False
        self.failures = 0

    def start(self) -> None:
        """Load once now (raising on failure), then keep reloading on a daemon thread."""
        with self._lock:
            self._last_attempt = self._clock()
        self._refresh()
        CREDENTIAL_REFRESHED.labels(source=self.name).set_to_current_time()
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name=f"bgr-refresh-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def request(self) -> bool:
        """Ask for an early reload, off the caller's thread; ``False`` when rate-limited or pending."""
        with self._lock:
            if self._thread is None or self._pending:
                return False
            if self._clock() - self._last_attempt < self._min_interval_s:
                return False
            self._pending = True
        self._wake.set()
        return True

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._stopped.is_set():
                return
            self._attempt()

    def _attempt(self) -> None:
        with self._lock:
            self._last_attempt = self._clock()
        try:
            self._refresh()
        except Exception as exc:  # any failure: keep the last good snapshot, say so, try again later
            self.failures += 1
            CREDENTIAL_REFRESH_FAILURES.labels(source=self.name).inc()
            log.warning("refresh_failed", refresher=self.name, error=f"{type(exc).__name__}: {exc}")
        else:
            CREDENTIAL_REFRESHED.labels(source=self.name).set_to_current_time()
        finally:
            with self._lock:
                self._pending = False
