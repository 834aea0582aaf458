"""Waiting for a server process started by a test or a benchmark (``bg-remover serve``, or the
benchmark's synchronous baseline) to answer: one helper for ``tests/e2e`` and ``bench/``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


class ServerNotReadyError(RuntimeError):
    """The server exited, or did not answer 200 in time; the message ends with its log's tail."""


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, *, timeout: float = 90, interval: float = 0.3
) -> None:
    """Poll ``url`` until it answers 200 while ``process`` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerNotReadyError(f"server exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise ServerNotReadyError(f"{url} not ready after {timeout} s:\n{_tail(log)}")


def _tail(log: Path, chars: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(no log at {log}: {exc})"
