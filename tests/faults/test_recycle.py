"""Worker recycling and the hard per-job time limit, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bgremover.resilience.watchdog import Watchdog

APP = Path(__file__).with_name("recycle_app.py")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def consumer(tmp_path: Path) -> Iterator[Callable[..., tuple[object, Path]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> tuple[object, Path]:
        queue = tmp_path / "queue.db"
        full_env = {**os.environ, "RECYCLE_QUEUE": str(queue), **env}
        command = [sys.executable, "-c", "import recycle_app; recycle_app.main()"]
        procs.append(subprocess.Popen(command, env=full_env, cwd=APP.parent))
        sys.path.insert(0, str(APP.parent))
        os.environ["RECYCLE_QUEUE"] = str(queue)
        import recycle_app

        return recycle_app, tmp_path / "pids.txt"

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    sys.modules.pop("recycle_app", None)
    sys.path.remove(str(APP.parent))
    os.environ.pop("RECYCLE_QUEUE", None)


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_worker_recycles_after_max_tasks(consumer: Callable[..., tuple[object, Path]]) -> None:
    app, out = consumer(RECYCLE_MAX_TASKS="2")
    for _ in range(4):
        app.record_pid(str(out))  # type: ignore[attr-defined]
    wait_for(lambda: len(pids(out)) == 4, 30, "4 tasks")
    seen = pids(out)
    assert seen[0] == seen[1] and seen[2] == seen[3] and seen[1] != seen[2]


def test_worker_recycles_above_memory_ceiling(consumer: Callable[..., tuple[object, Path]]) -> None:
    app, out = consumer(RECYCLE_MEMORY_CEILING=str(300 * 2**20))
    app.record_pid(str(out))  # type: ignore[attr-defined]
    app.record_pid(str(out))  # type: ignore[attr-defined]
    app.hog(400, str(out))  # type: ignore[attr-defined]
    app.record_pid(str(out))  # type: ignore[attr-defined]
    wait_for(lambda: len(pids(out)) == 4, 60, "4 tasks")
    first, second, hogger, after = pids(out)
    assert first == second == hogger, "below the ceiling the same process keeps working"
    assert after != hogger, "above the ceiling the process is replaced"


def test_watchdog_kills_a_task_stuck_in_native_code_and_the_worker_is_replaced(
    consumer: Callable[..., tuple[object, Path]],
) -> None:
    app, out = consumer(RECYCLE_TIME_LIMIT="1.5")
    started = time.monotonic()
    app.spin_in_c(str(out))  # type: ignore[attr-defined]
    wait_for(lambda: len(pids(out)) == 1, 30, "the stuck task to start")
    stuck = pids(out)[0]
    wait_for(lambda: not _alive(stuck), 10, "the watchdog to kill the stuck worker")
    assert time.monotonic() - started < 15
    app.record_pid(str(out))  # type: ignore[attr-defined]
    wait_for(lambda: len(pids(out)) == 2, 30, "a replacement worker to run the next task")
    assert pids(out)[1] != stuck


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with Path(f"/proc/{pid}/stat").open() as fh:
        return fh.read().split()[2] != "Z"


def test_disarmed_watchdog_leaves_the_process_alone_and_exits_with_it() -> None:
    watchdog = Watchdog()
    with watchdog.limit(0.3):
        pass
    time.sleep(0.6)  # past the limit, but disarmed
    sentinel = watchdog.sentinel_pid
    assert _alive(sentinel)
    watchdog.close()
    assert not _alive(sentinel)


def test_interval_tasks_run_more_often_than_crontab_allows(
    consumer: Callable[..., tuple[object, Path]], tmp_path: Path
) -> None:
    ticks = tmp_path / "ticks.txt"
    consumer(RECYCLE_TICK_EVERY="1", RECYCLE_TICKS=str(ticks))
    wait_for(lambda: ticks.exists() and len(ticks.read_text().split()) >= 3, 15, "three ticks")
