"""Images per request: 1, 10, 100 and 1,000 product photos in one submit, in turn
(``LOADTEST_IMAGE_COUNTS`` to change them)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence

from common import SubmitUser, fashion_photos
from locust import constant, task

COUNTS = tuple(int(n) for n in os.environ.get("LOADTEST_IMAGE_COUNTS", "1,10,100,1000").split(","))


class ImageCountUser(SubmitUser):
    wait_time = constant(1)

    def batches(self) -> Iterator[tuple[str, Sequence[tuple[str, bytes]]]]:
        photos = fashion_photos(max(COUNTS))
        return ((f"{count} images", photos[:count]) for count in itertools.cycle(COUNTS))

    @task
    def send(self) -> None:
        self.submit()
