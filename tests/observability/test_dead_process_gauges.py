"""Live gauges of exited processes are dropped: by the recycling consumer for the workers it replaces,
and by ``mark_exited_processes`` (what ``serve`` runs when it restarts a dead worker tree)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

from bgremover.observability.dead_processes import mark_exited_processes
from bgremover.observability.metrics_setup import MULTIPROC_ENV

ALIVE = "bgr_workers_alive"

# A worker-like process: says it is alive (a livesum gauge) and exits.
BEAT_AND_EXIT = (
    "import os; from bgremover.observability import metrics; metrics.worker_heartbeat(); print(os.getpid())"
)

# A recycling consumer whose one worker says it is alive at start and is replaced after every task.
CONSUMER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from huey import SqliteHuey
    from bgremover.observability.metrics import worker_heartbeat
    from bgremover.resilience.recycle import RecyclingConsumer

    huey = SqliteHuey(filename=sys.argv[1])
    huey.on_startup(name="beat")(worker_heartbeat)

    @huey.task(name="record_pid")
    def record_pid(out):
        with Path(out).open("a") as fh:
            fh.write(f"{os.getpid()}\\n")

    if __name__ == "__main__":
        for _ in range(3):
            record_pid(sys.argv[2])
        RecyclingConsumer(huey, workers=1, max_tasks=1, initial_delay=0.05, max_delay=0.2).run()
    """
)


def alive_sum(folder: Path) -> float:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return registry.get_sample_value(ALIVE) or 0.0


def test_mark_exited_processes_drops_only_the_gauges_of_processes_that_are_gone(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    gone = int(
        subprocess.run(
            [sys.executable, "-c", BEAT_AND_EXIT], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(
        (tmp_path / f"gauge_livesum_{gone}.db").read_bytes()
    )
    assert alive_sum(tmp_path) == 2
    assert mark_exited_processes(tmp_path) == [gone]
    assert alive_sum(tmp_path) == 1  # this process is still running: its gauge stays
    assert mark_exited_processes(tmp_path) == []


def test_the_recycling_consumer_drops_the_gauges_of_the_workers_it_replaces(tmp_path: Path) -> None:
    metrics_dir, pids_file = tmp_path / "prom", tmp_path / "pids.txt"
    metrics_dir.mkdir()
    app = tmp_path / "gauge_consumer.py"
    app.write_text(CONSUMER)
    env = {**os.environ, MULTIPROC_ENV: str(metrics_dir)}
    consumer = subprocess.Popen([sys.executable, str(app), str(tmp_path / "q.db"), str(pids_file)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = pids_file.read_text().split() if pids_file.exists() else []
            if len(set(workers)) == 3 and alive_sum(metrics_dir) == 1:
                break
            time.sleep(0.1)
        assert len(set(workers)) == 3, "three tasks, each in a fresh worker (max_tasks=1)"
        time.sleep(2.5)  # two more health checks: the fourth worker is up, the third one's gauge gone
        assert alive_sum(metrics_dir) == 1
    finally:
        consumer.terminate()
        consumer.wait(timeout=30)
