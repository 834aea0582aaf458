"""Payload size: one photo of about 100 KB, 1 MB, 5 MB and 20 MB per request, in turn (the original
system timed out on payloads over 500 KB)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from common import SubmitUser, sized_photo
from locust import constant, task

SIZES = ("100KB", "1MB", "5MB", "20MB")


class PayloadSizeUser(SubmitUser):
    wait_time = constant(1)

    def batches(self) -> Iterator[tuple[str, Sequence[tuple[str, bytes]]]]:
        photos = {label: sized_photo(label) for label in SIZES}
        return ((label, photos[label]) for label in itertools.cycle(SIZES))

    @task
    def send(self) -> None:
        self.submit()
