"""Worker processes that replace themselves: after N jobs (Huey's ``max_tasks``), above a memory
ceiling (native libraries and big images fragment the heap, and RSS rarely shrinks), and when the
watchdog kills one mid-job. Huey's consumer health check restarts any process worker that exits; this
module adds the memory ceiling and the watchdog, checks health every second instead of every ten, and
lets the scheduler enqueue tasks every N seconds (the reaper), finer than crontab's minute. Before a
dead worker is replaced, the job (and chunk) it held (``ClaimBoard``) is handed to ``on_orphan`` for an
immediate retry, instead of waiting for its lease to expire.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil
from huey import Huey
from huey.api import TaskWrapper
from huey.consumer import Consumer, Scheduler, Worker, WorkerRecycle

from bgremover.observability.dead_processes import mark_exited_processes
from bgremover.resilience.claims import Claim, ClaimBoard
from bgremover.resilience.watchdog import (
    Watchdog,
    arm_guard,
    disarm_guard,
    guard_process,
    release_guard,
)


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


class MemoryCappedWorker(Worker):
    """A Huey worker that leaves, to be replaced, once its resident memory exceeds the ceiling."""

    def __init__(self, *, memory_ceiling_bytes: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.memory_ceiling_bytes = memory_ceiling_bytes

    def loop(self, now: Any = None) -> None:
        done_before = self.task_count
        super().loop(now)
        ceiling = self.memory_ceiling_bytes
        if ceiling and self.task_count > done_before and rss_bytes() > ceiling:
            self._logger.info("Worker RSS above %d bytes, exiting to be replaced.", ceiling)
            raise WorkerRecycle()


Every = Sequence[tuple[TaskWrapper, float]]


class IntervalScheduler(Scheduler):
    """Huey's scheduler that also enqueues each given task every so many seconds."""

    def __init__(self, *, every: Every, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._every = list(every)
        self._due = [time.monotonic()] * len(self._every)

    def loop(self, now: Any = None) -> None:
        for i, (task, seconds) in enumerate(self._every):
            if time.monotonic() >= self._due[i]:
                self._due[i] = time.monotonic() + seconds
                try:
                    self.huey.enqueue(task.s())
                except Exception:  # the queue is down: the next turn tries again
                    self._logger.exception("Error enqueueing %s.", task.name)
        super().loop(now)


class RecyclingConsumer(Consumer):
    """Huey's consumer with process workers, quick replacement of dead workers, a memory ceiling and
    interval tasks. ``max_tasks`` (recycle after N jobs) is Huey's own option and passes through."""

    def __init__(
        self,
        huey: Huey,
        *,
        memory_ceiling_bytes: int | None = None,
        every: Every = (),
        claims: ClaimBoard | None = None,
        on_orphan: Callable[[Claim, int | None], None] | None = None,
        **kwargs: Any,
    ) -> None:
        self._memory_ceiling_bytes = memory_ceiling_bytes
        self._every = every
        self._claims = claims
        self._on_orphan = on_orphan
        kwargs.setdefault("worker_type", "process")
        kwargs.setdefault("health_check_interval", 1)
        super().__init__(huey, **kwargs)

    def check_worker_health(self) -> bool:
        """The jobs of dead workers handed on, then Huey's check (dead workers replaced), then the live
        gauges of exited processes dropped (the same sweep ``serve`` runs): a recycled or killed worker
        must not count in ``bgr_workers_alive`` any more."""
        self._hand_on_orphans()
        healthy = bool(super().check_worker_health())
        mark_exited_processes()
        return healthy

    def _hand_on_orphans(self) -> None:
        """Each dead worker's claimed chunk and job to ``on_orphan`` (with the exit code: negative for a
        signal), before the replacement is forked, so nothing the handler opens is inherited by it."""
        if self._claims is None or self._on_orphan is None:
            return
        self._claims.drain()
        for _, process in self.worker_threads:
            if not process.is_alive():
                for claim in self._claims.take(process.pid):
                    self._on_orphan(claim, process.exitcode)

    def _create_scheduler(self) -> IntervalScheduler:
        return IntervalScheduler(
            every=self._every,
            huey=self.huey,
            stop_flag=self.stop_flag,
            interval=self.scheduler_interval,
            periodic=self.periodic,
        )

    def _create_worker(self) -> MemoryCappedWorker:
        return MemoryCappedWorker(
            memory_ceiling_bytes=self._memory_ceiling_bytes,
            huey=self.huey,
            stop_flag=self.stop_flag,
            default_delay=self.default_delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            max_tasks=self.max_tasks,
        )


def install_watchdog(huey: Huey, time_limit_s: float) -> None:
    """Give every worker process of ``huey`` a watchdog that kills it when one task runs longer than
    ``time_limit_s`` (the reaper's runs included), unless the task moves its own deadline
    (``extend_guard``). Call once, before the consumer starts."""

    @huey.on_startup(name="bgr-watchdog-start")
    def _start() -> None:
        guard_process(Watchdog())

    @huey.on_shutdown(name="bgr-watchdog-stop")
    def _stop() -> None:
        release_guard()

    @huey.pre_execute(name="bgr-watchdog-arm")
    def _arm(task: Any) -> None:
        arm_guard(time_limit_s)

    @huey.post_execute(name="bgr-watchdog-disarm")
    def _disarm(task: Any, task_value: Any, exc: BaseException | None) -> None:
        disarm_guard()
