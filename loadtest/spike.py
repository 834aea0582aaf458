"""A spike: one user for a third of the run, ``LOADTEST_SPIKE_USERS`` (default 10) for the next
third, one again for the last, each submitting 5 photos every 2 seconds."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence

from common import SubmitUser, fashion_photos
from locust import LoadTestShape, constant_pacing, task

SPIKE_USERS = int(os.environ.get("LOADTEST_SPIKE_USERS", "10"))
RUN_S = float(os.environ.get("LOADTEST_RUN_S", "30"))


class SpikeUser(SubmitUser):
    wait_time = constant_pacing(2)

    def batches(self) -> Iterator[tuple[str, Sequence[tuple[str, bytes]]]]:
        return itertools.repeat(("5 images", fashion_photos(5)))

    @task
    def send(self) -> None:
        self.submit()


class Spike(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed >= RUN_S:
            return None
        third = RUN_S / 3
        return (SPIKE_USERS, float(SPIKE_USERS)) if third <= elapsed < 2 * third else (1, float(SPIKE_USERS))
