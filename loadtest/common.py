"""What every scenario's Locust users share: one submit of a batch of photos, recorded line by line
(start time, variant, status, latency, job id) into the JSON-lines file the harness reads back, and a
budget of submits so that a scenario is bounded in requests as well as in time (``-t``).

Configured by the harness through the environment: ``LOADTEST_PAYLOADS`` (the generated big photos),
``LOADTEST_FASHION`` (the shared data's product photos), ``LOADTEST_RECORDS`` (the JSON-lines file),
``LOADTEST_MAX_SUBMITS``. Loopback only: a ``--host`` that is not 127.0.0.1 stops the run before any
request."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from locust import HttpUser
from locust.exception import StopUser
from locust.runners import Runner

PAYLOADS = Path(os.environ.get("LOADTEST_PAYLOADS", "var/loadtest/payloads"))
FASHION = Path(os.environ.get("LOADTEST_FASHION", "../shared/data/fashion_products"))
RECORDS = Path(os.environ.get("LOADTEST_RECORDS", "var/loadtest/records.jsonl"))
MAX_SUBMITS = int(os.environ.get("LOADTEST_MAX_SUBMITS", "100"))
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_submits = itertools.count(1)


def fashion_photos(count: int) -> list[tuple[str, bytes]]:
    """The first ``count`` product photos of the shared data's fashion set (white backgrounds)."""
    paths = sorted(FASHION.glob("*.jpg"))[:count]
    return [(path.name, path.read_bytes()) for path in paths]


def sized_photo(label: str) -> list[tuple[str, bytes]]:
    """The one photo of about ``label`` (100KB, 1MB, 5MB, 20MB) that the harness generated."""
    path = PAYLOADS / f"photo-{label}.jpg"
    return [(path.name, path.read_bytes())]


class SubmitUser(HttpUser):
    """A client submitting group-images jobs; subclasses say which batches, in which order."""

    abstract = True

    def batches(self) -> Iterator[tuple[str, Sequence[tuple[str, bytes]]]]:
        raise NotImplementedError

    def on_start(self) -> None:
        if urlsplit(self.host or "").hostname not in LOOPBACK:
            self.environment.process_exit_code = 2
            self._stop_all()
            raise StopUser(f"load tests run against a local serve only, not {self.host!r}")
        self._batches = self.batches()

    def submit(self) -> None:
        if next(_submits) > MAX_SUBMITS:
            self._stop_all()
            raise StopUser
        variant, photos = next(self._batches)
        files = [("images", (name, data, "image/jpeg")) for name, data in photos]
        started = time.time()
        with self.client.post(
            "/v1/group-images", files=files, name=f"submit {variant}", catch_response=True
        ) as response:
            record = {
                "t": started,
                "variant": variant,
                "status": response.status_code,
                "ms": (time.time() - started) * 1000,
                "images": len(photos),
                "bytes": sum(len(data) for _, data in photos),
                "jobId": response.json().get("jobId") if response.status_code == 202 else None,
            }
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")
        with RECORDS.open("a") as out:
            out.write(json.dumps(record) + "\n")

    def _stop_all(self) -> None:
        runner: Runner | None = self.environment.runner
        if runner is not None and runner.state not in ("stopping", "stopped"):
            runner.quit()
