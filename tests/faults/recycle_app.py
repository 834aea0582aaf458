"""A real Huey app for the recycling and watchdog tests: ``main()`` runs a ``RecyclingConsumer`` on the
SQLite queue named by ``RECYCLE_QUEUE``; tests import this module to enqueue its tasks."""

from __future__ import annotations

import os
from pathlib import Path

from huey import SqliteHuey

from bgremover.resilience.recycle import RecyclingConsumer, install_watchdog

huey = SqliteHuey(filename=os.environ["RECYCLE_QUEUE"])
_hoard: list[bytearray] = []


@huey.task()
def record_pid(out: str) -> None:
    with Path(out).open("a") as fh:
        fh.write(f"{os.getpid()}\n")


@huey.task()
def hog(megabytes: int, out: str) -> None:
    """Holds memory past the task, like a fragmented heap after a huge image."""
    _hoard.append(bytearray(os.urandom(1024)) * (megabytes * 1024))
    record_pid.call_local(out)


@huey.task()
def spin_in_c(out: str) -> None:
    """A C loop that holds the GIL and never checks signals: Python-level timeouts cannot stop it."""
    record_pid.call_local(out)
    sum(range(10**13))


@huey.task()
def tick() -> None:
    """Enqueued by the interval scheduler; leaves a line per run."""
    with Path(os.environ["RECYCLE_TICKS"]).open("a") as fh:
        fh.write("tick\n")


def main() -> None:
    install_watchdog(huey, float(os.environ.get("RECYCLE_TIME_LIMIT", "60")))
    RecyclingConsumer(
        huey,
        workers=1,
        max_tasks=int(os.environ["RECYCLE_MAX_TASKS"]) if "RECYCLE_MAX_TASKS" in os.environ else None,
        memory_ceiling_bytes=int(os.environ.get("RECYCLE_MEMORY_CEILING", "0")) or None,
        every=[(tick, float(os.environ["RECYCLE_TICK_EVERY"]))] if "RECYCLE_TICK_EVERY" in os.environ else (),
        initial_delay=0.05,
        max_delay=0.2,
    ).run()
