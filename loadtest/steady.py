"""Steady load: every user submits 5 photos every 2 seconds (``constant_pacing``), the whole run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from common import SubmitUser, fashion_photos
from locust import constant_pacing, task

BATCH = 5


class SteadyUser(SubmitUser):
    wait_time = constant_pacing(2)

    def batches(self) -> Iterator[tuple[str, Sequence[tuple[str, bytes]]]]:
        photos = fashion_photos(50)
        windows = (photos[start : start + BATCH] for start in itertools.cycle(range(0, 50, BATCH)))
        return (("5 images", window) for window in windows)

    @task
    def send(self) -> None:
        self.submit()
