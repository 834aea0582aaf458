"""Live gauges of processes that are gone, dropped from the multiprocess metrics directory.

In multiprocess mode every process writes its gauges to ``gauge_<mode>_<pid>.db``; the ``live*`` modes
only mean something while that process runs (``bgr_workers_alive`` is the sum of one per live worker).
One sweep drops the files of pids that no longer exist: the recycling consumer runs it after each
health check (the workers it replaced), and ``serve`` when it restarts a whole worker tree that died
with its parent (nobody else is left to do it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil
from prometheus_client import multiprocess

from bgremover.observability.metrics_setup import MULTIPROC_ENV

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def mark_exited_processes(directory: Path | None = None) -> list[int]:
    """Drop the live gauges of every process that wrote some and has exited; their pids, sorted.
    A no-op outside multiprocess mode."""
    folder = directory or (Path(os.environ[MULTIPROC_ENV]) if os.environ.get(MULTIPROC_ENV) else None)
    if folder is None or not folder.is_dir():
        return []
    pids = {int(m.group(1)) for file in folder.iterdir() if (m := _LIVE_GAUGE_FILE.match(file.name))}
    exited = sorted(pid for pid in pids if not psutil.pid_exists(pid))
    for pid in exited:
        multiprocess.mark_process_dead(pid, str(folder))
    return exited
