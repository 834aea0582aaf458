"""A hard per-job time limit that holds even inside a native call (ONNX inference, a huge decode).

Python-level timeouts (signals, Huey's task ``timeout``) only fire between bytecodes, so a stuck native
call ignores them. The watchdog is a separate tiny process that holds the deadline and SIGKILLs the
worker when it passes; the worker pool (Huey's consumer health check) then starts a fresh process, the
job's lease expires and the reaper hands the job out again, counting the attempt.

The worker talks to its sentinel over a pipe: ``arm <seconds>`` and ``disarm``. When the worker dies
the pipe closes and the sentinel exits, so it never outlives what it guards.

A worker process registers its watchdog here (``guard_process``) so that code running inside a task can
move the deadline once it knows the task's own limit: a job learns its tenant's ``job_time_limit_s``
only after the task started under the deployment's (``extend_guard``).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

HARD_LIMIT_FACTOR = 1.5  # the hard kill comes this much after a job's own (soft) time limit


class Watchdog:
    """Owns one sentinel process guarding the current process."""

    def __init__(self) -> None:
        self._sentinel = subprocess.Popen(
            [sys.executable, "-m", "bgremover.resilience.watchdog", str(os.getpid())],
            stdin=subprocess.PIPE,
            close_fds=True,
        )

    @property
    def sentinel_pid(self) -> int:
        return self._sentinel.pid

    def _send(self, message: str) -> None:
        assert self._sentinel.stdin is not None
        self._sentinel.stdin.write(f"{message}\n".encode())
        self._sentinel.stdin.flush()

    def arm(self, seconds: float) -> None:
        """From now, this whole process is killed unless ``disarm`` comes within ``seconds``."""
        self._send(f"arm {seconds:.3f}")

    def disarm(self) -> None:
        self._send("disarm")

    @contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        """Run the block under a hard limit."""
        self.arm(seconds)
        try:
            yield
        finally:
            self.disarm()

    def close(self) -> None:
        if self._sentinel.stdin is not None:
            self._sentinel.stdin.close()
        self._sentinel.wait(timeout=5)


_GUARDS: list[Watchdog] = []  # the watchdog of this process, when it is a guarded worker


def guard_process(watchdog: Watchdog) -> None:
    """Make ``watchdog`` the one that ``arm_guard``, ``extend_guard`` and ``release_guard`` drive."""
    _GUARDS.append(watchdog)


def release_guard() -> None:
    """Close this process's watchdog (its sentinel exits); nothing guards the process any more."""
    while _GUARDS:
        _GUARDS.pop().close()


def arm_guard(seconds: float) -> None:
    """Kill this process unless ``disarm_guard`` comes within ``seconds``; a later call moves the
    deadline. Nothing happens where no watchdog guards the process (tests, the CLI)."""
    for watchdog in _GUARDS:
        watchdog.arm(seconds)


def disarm_guard() -> None:
    for watchdog in _GUARDS:
        watchdog.disarm()


def extend_guard(time_limit_s: float) -> None:
    """The running task's own soft limit is ``time_limit_s``: the hard kill moves to
    ``HARD_LIMIT_FACTOR`` times that, from now."""
    arm_guard(time_limit_s * HARD_LIMIT_FACTOR)


def _next_deadline(line: str, deadline: float | None) -> float | None:
    command, _, argument = line.partition(" ")
    if command == "arm":
        return time.monotonic() + float(argument)
    if command == "disarm":
        return None
    return deadline


def guard(pid: int, fd: int) -> bool:
    """The sentinel's loop; returns True when it killed ``pid``, False when the pipe closed first."""
    deadline: float | None = None
    pending = b""
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            print(f"watchdog: worker {pid} exceeded its job time limit, killed", file=sys.stderr)
            return True
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            deadline = _next_deadline(line.decode().strip(), deadline)


if __name__ == "__main__":
    # Ignore the terminal's Ctrl-C: the worker decides when to stop, and closing the pipe stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    guard(int(sys.argv[1]), sys.stdin.fileno())
