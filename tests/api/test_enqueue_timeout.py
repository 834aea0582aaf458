"""A queue that hangs costs the client a bounded wait: 503 with Retry-After, the job marked failed."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest

from api.doubles import HangingDispatcher
from api.support import assert_problem, images_part, png_bytes
from bgremover.ledger.base import JobStatus


def assert_refused_and_failed(response, services, elapsed: float, timeout: float) -> None:
    body = assert_problem(response, 503, "enqueue-failed")
    assert int(response.headers["retry-after"]) > 0
    assert elapsed < timeout + 1.5
    job = services.ledger.get_job("default", body["jobId"])
    assert job.status is JobStatus.FAILED
    assert job.error["stage"] == "enqueue"
    assert job.error["requestId"] == response.headers["x-request-id"]


def test_a_dispatcher_that_ignores_its_timeout_is_cut_off(make_client, services):
    hanging = HangingDispatcher()
    client = make_client(dataclasses.replace(services, dispatcher=hanging), enqueue_timeout_s=0.3)
    try:
        started = time.perf_counter()
        response = client.post("/v1/group-images", files=images_part(png_bytes()))
        assert_refused_and_failed(response, services, time.perf_counter() - started, 0.3)
        assert len(hanging.calls) == 1
    finally:
        hanging.release.set()


@pytest.fixture
def locked_queue(settings):
    """The real SQLite queue file held by another writer: Huey's enqueue waits on the lock."""
    path = Path(settings.queue_url.removeprefix("sqlite:///"))
    connection = sqlite3.connect(path, isolation_level=None, timeout=0)
    connection.execute("BEGIN EXCLUSIVE")
    yield
    connection.execute("ROLLBACK")
    connection.close()


def test_a_locked_real_sqlite_queue_gives_503_fast(make_client, services, locked_queue):
    client = make_client(enqueue_timeout_s=0.5)
    started = time.perf_counter()
    response = client.post("/v1/remove-background", files=images_part(png_bytes()))
    assert_refused_and_failed(response, services, time.perf_counter() - started, 0.5)


def test_a_refused_submit_can_be_retried_with_the_same_idempotency_key(make_client, services):
    hanging = HangingDispatcher()
    refused = make_client(dataclasses.replace(services, dispatcher=hanging), enqueue_timeout_s=0.2)
    files = images_part(png_bytes())
    headers = {"Idempotency-Key": "order-9"}
    try:
        first = refused.post("/v1/group-images", files=files, headers=headers)
        assert first.status_code == 503
    finally:
        hanging.release.set()
    retry = make_client().post("/v1/group-images", files=files, headers=headers)
    assert retry.status_code == 202
    assert "idempotent-replayed" not in retry.headers
    assert retry.json()["jobId"] != first.json()["jobId"]
    assert services.dispatcher.depth() == 1
    replay = make_client().post("/v1/group-images", files=files, headers=headers)
    assert replay.json()["jobId"] == retry.json()["jobId"]
