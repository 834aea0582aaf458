"""What every scenario's Locust users share: one submit of a batch of photos, recorded line by line
(start time, variant, status, latency, job id) into the JSON-lines file the harness reads back, and a
budget of submits so that a scenario is bounded in requests as well as in time (``-t``).

A submit goes one of two ways (``LOADTEST_UPLOAD``): ``multipart``, the photos in the submit's body;
or ``direct``, the direct-upload flow: ``POST /v1/uploads`` for slots, one ``PUT`` per photo to its
slot's URL, then the submit by reference. Its latency (``ms``) is then the whole sequence, as a client
lives it, and ``submit_ms`` the submit call alone (where the stored photos are checked); a multipart
submit is one call, so both are its latency.

Configured by the harness through the environment: ``LOADTEST_PAYLOADS`` (the generated big photos),
``LOADTEST_FASHION`` (the shared data's product photos), ``LOADTEST_RECORDS`` (the JSON-lines file),
``LOADTEST_MAX_SUBMITS``, ``LOADTEST_UPLOAD``. Loopback only: a ``--host`` that is not 127.0.0.1 stops
the run before any request."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from locust import HttpUser
from locust.clients import ResponseContextManager
from locust.exception import StopUser
from locust.runners import Runner

PAYLOADS = Path(os.environ.get("LOADTEST_PAYLOADS", "var/loadtest/payloads"))
FASHION = Path(os.environ.get("LOADTEST_FASHION", "../shared/data/fashion_products"))
RECORDS = Path(os.environ.get("LOADTEST_RECORDS", "var/loadtest/records.jsonl"))
MAX_SUBMITS = int(os.environ.get("LOADTEST_MAX_SUBMITS", "100"))
UPLOAD = os.environ.get("LOADTEST_UPLOAD", "multipart")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_submits = itertools.count(1)
Photos: TypeAlias = Sequence[tuple[str, bytes]]
Outcome: TypeAlias = tuple[int, float | None, str | None]  # status, ms of the submit call, job id


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
        started = time.time()
        send = self._direct if UPLOAD == "direct" else self._multipart
        status, submit_ms, job_id = send(variant, photos)
        record = {
            "t": started,
            "variant": variant,
            "status": status,
            "ms": (time.time() - started) * 1000,
            "submit_ms": submit_ms,
            "images": len(photos),
            "bytes": sum(len(data) for _, data in photos),
            "jobId": job_id,
        }
        with RECORDS.open("a") as out:
            out.write(json.dumps(record) + "\n")

    def _multipart(self, variant: str, photos: Photos) -> Outcome:
        files = [("images", (name, data, "image/jpeg")) for name, data in photos]
        return self._submit(f"submit {variant}", files=files)

    def _direct(self, variant: str, photos: Photos) -> Outcome:
        """Slots, one PUT per photo, then the submit by reference; the first step refused ends it,
        and its status is the submit's."""
        declared = [
            {"filename": name, "size": len(data), "contentType": "image/jpeg"} for name, data in photos
        ]
        with self.client.post(
            "/v1/uploads", json={"files": declared}, name=f"slots {variant}", catch_response=True
        ) as response:
            if not _accepted(response, 201):
                return response.status_code, None, None
            slots = response.json()["slots"]
        for slot, (_, data) in zip(slots, photos, strict=True):
            with self.client.request(
                slot["method"],
                slot["url"],
                data=data,
                headers=slot["headers"],
                name=f"put {variant}",
                catch_response=True,
            ) as response:
                if not _accepted(response, 200, 201, 204):
                    return response.status_code, None, None
        body = {"uploads": [slot["slot"] for slot in slots]}
        return self._submit(f"submit by reference {variant}", json=body)

    def _submit(self, name: str, **body: Any) -> Outcome:
        started = time.time()
        with self.client.post("/v1/group-images", name=name, catch_response=True, **body) as response:
            ms = (time.time() - started) * 1000
            job_id = response.json().get("jobId") if _accepted(response, 202) else None
            return response.status_code, ms, job_id

    def _stop_all(self) -> None:
        runner: Runner | None = self.environment.runner
        if runner is not None and runner.state not in ("stopping", "stopped"):
            runner.quit()


def _accepted(response: ResponseContextManager, *statuses: int) -> bool:
    """Whether Locust's ``response`` has one of ``statuses``; if not, it is marked as failed."""
    if response.status_code in statuses:
        return True
    response.failure(f"{response.status_code}: {response.text[:200]}")
    return False
