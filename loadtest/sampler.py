"""CPU and memory of the API process and of the worker processes while a scenario runs, sampled with
psutil in a background thread: CPU as the seconds used (and the share of one core over the run), memory
as the peak of the summed resident sets. A process that exits keeps the CPU it was last seen with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

Processes = Callable[[], list[psutil.Process]]


@dataclass
class RoleUsage:
    cpu_s: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds at its last sample
    start_cpu_s: dict[int, float] = field(default_factory=dict)
    peak_rss: int = 0

    def sample(self, processes: list[psutil.Process]) -> None:
        rss = 0
        for process in processes:
            try:
                with process.oneshot():
                    times, memory = process.cpu_times(), process.memory_info()
            except psutil.Error:
                continue
            used = times.user + times.system
            self.start_cpu_s.setdefault(process.pid, used)
            self.cpu_s[process.pid] = used
            rss += memory.rss
        self.peak_rss = max(self.peak_rss, rss)

    def used_s(self) -> float:
        return sum(self.cpu_s[pid] - self.start_cpu_s[pid] for pid in self.cpu_s)


class Sampler:
    """``with Sampler({"api": ..., "workers": ...}) as usage:``; then ``usage.summary()``."""

    def __init__(self, roles: dict[str, Processes], interval_s: float = 0.5) -> None:
        self._roles = roles
        self._usage = {role: RoleUsage() for role in roles}
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadtest-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._started = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._wall_s = time.monotonic() - self._started

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        for role, processes in self._roles.items():
            self._usage[role].sample(processes())

    def summary(self) -> dict[str, float]:
        """Per role: ``{role}_cpu_s``, ``{role}_cpu_pct`` (100 = one core busy all the run) and
        ``{role}_peak_rss_mb``."""
        out: dict[str, float] = {}
        for role, usage in self._usage.items():
            out[f"{role}_cpu_s"] = round(usage.used_s(), 1)
            out[f"{role}_cpu_pct"] = round(100 * usage.used_s() / max(self._wall_s, 1e-9), 1)
            out[f"{role}_peak_rss_mb"] = round(usage.peak_rss / 2**20, 1)
        return out
