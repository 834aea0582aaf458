"""The readiness wait shared by the end-to-end tests and ``bench/submit_latency.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backends import free_port
from server_readiness import ServerNotReadyError, wait_until_ready


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)


def test_returns_once_the_server_answers(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "server.log"
    (tmp_path / "ready").write_text("ok")
    process = start([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], log)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready", process, log, timeout=30, interval=0.05)
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_server_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = start([sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"], log)
    with pytest.raises(ServerNotReadyError, match=r"exited with 3:\nbad config"):
        wait_until_ready(f"http://127.0.0.1:{free_port()}/readyz", process, log, timeout=30, interval=0.05)


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = start([sys.executable, "-c", "import time; time.sleep(30)"], log)
    try:
        with pytest.raises(ServerNotReadyError, match=r"not ready after 0\.5 s"):
            wait_until_ready(
                f"http://127.0.0.1:{free_port()}/readyz", process, log, timeout=0.5, interval=0.05
            )
    finally:
        process.kill()
        process.wait()
