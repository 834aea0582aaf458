"""The processes behind ``bg-remover serve``: uvicorn with the slow-client guards, and the worker tree
that runs beside it. Kept out of :mod:`bgremover.cli.serve`, which imports it only when the command
runs, so that loading the CLI (``--help``, ``remove``) does not import uvicorn and asyncio."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from bgremover.settings import Settings

RESTART_DELAY_S = 2.0
_PR_SET_PDEATHSIG = 1


class WorkerTree:
    """The ``bg-remover worker`` child process, kept running while the API serves."""

    def __init__(self, workers: int, grace_s: float) -> None:
        self._command = [sys.executable, "-c", "from bgremover.cli import main; main()", "worker"]
        self._command += ["--workers", str(workers)]
        self._grace_s = grace_s
        self._stopping = threading.Event()
        self._process = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="worker-tree", daemon=True)
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        # Its own session: a terminal's Ctrl-C reaches the API, which then decides what workers get;
        # and a parent-death signal, so that workers never outlive a serve that was killed outright.
        return subprocess.Popen(self._command, start_new_session=True, preexec_fn=_term_on_parent_death)

    def _watch(self) -> None:
        # Imported here: prometheus_client must not load before ``prepare_metrics`` (see ``serve``).
        from bgremover.observability.dead_processes import mark_exited_processes

        while not self._stopping.is_set():
            code = self._process.wait()
            if self._stopping.wait(RESTART_DELAY_S):
                return
            mark_exited_processes()  # the dead tree's workers must not count as alive any more
            print(f"bg-remover serve: workers exited with {code}, starting them again", file=sys.stderr)
            self._process = self._spawn()

    def stop(self, signum: int) -> int:
        """Pass ``signum`` on and wait for the workers to finish; kill them after the grace period."""
        self._stopping.set()
        self._process.send_signal(signum)
        try:
            return self._process.wait(timeout=self._grace_s + 15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()


class Server(uvicorn.Server):
    """Remembers which signal stopped it, to pass the same one on to the workers. Unlike uvicorn's
    own, it does not re-raise the signal once stopped: that would kill ``serve`` before it had
    stopped its workers."""

    stop_signal: int = signal.SIGTERM

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signal = sig
        super().handle_exit(sig, frame)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _term_on_parent_death() -> None:
    """Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` in the child; a no-op elsewhere."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def uvicorn_config(app: object, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn with the slow-client guards: request heads complete within ``BGR_HTTP_HEADER_TIMEOUT_S``
    and at most 64 KiB (``GuardedHttpToolsProtocol``), idle keep-alive connections closed after
    ``BGR_HTTP_KEEP_ALIVE_S``, and at most ``BGR_HTTP_LIMIT_CONCURRENCY`` connections or requests at
    once (then 503), so trickling clients cannot take every slot. Bodies are timed in the app."""
    from bgremover.api.http_protocol import guarded_protocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        http=guarded_protocol(settings.http_header_timeout_s),
        timeout_keep_alive=settings.http_keep_alive_s,
        limit_concurrency=settings.http_limit_concurrency,
    )
