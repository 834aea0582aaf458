"""``bgremover.client`` against a real ``bg-remover serve``: typed results and downloads, a bad image,
idempotent resubmission, retries on 503 (queue hand-off refused) and 429 (``Retry-After``), and the
auth errors. ``wait()`` polls here: this branch's server has no event stream yet (``tests/client``
follows one on a test double)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from e2e_server import Server, running_server
from PIL import Image

from bgremover.client import ApiError, AsyncClient, Client, PollPolicy, RetryPolicy, WaitTimeoutError

FAST_POLL = PollPolicy(initial_s=0.2, max_s=1.0)
LIMITED_KEY = "limited-tenant-static-key-0123456789"
RATE_S = 3


def test_group_images_from_path_bytes_and_file_object_gives_typed_results(
    server: Server, photos: dict[str, bytes], shared_data: Path
) -> None:
    path = shared_data / "fashion_products" / "ukbench00000.jpg"
    files = [path, ("again.jpg", photos["a"]), io.BytesIO(photos["b"]), ("broken.jpg", photos["truncated"])]
    with Client(server.base_url, tenant="client-e2e", poll=FAST_POLL) as client:
        submitted = client.group_images(files, threshold=0.3)
        assert submitted.status == "queued"
        job = client.wait(submitted, timeout=180)
        assert job.status == "succeeded" and job.tenant_id == "client-e2e" and job.type == "group-images"
        assert job.progress is not None and (job.progress.done, job.progress.total) == (4, 4)
        by_name = {image.filename: image for image in job.images}
        assert set(by_name) == {"ukbench00000.jpg", "again.jpg", "image-0003", "broken.jpg"}
        broken = by_name["broken.jpg"]
        assert broken.status == "failed" and broken.group_id is None
        assert broken.error is not None and broken.error["type"].endswith("image-truncated")
        assert by_name["ukbench00000.jpg"].group_id == by_name["again.jpg"].group_id is not None
        groups = {group.group_id: set(group.image_ids) for group in job.groups}
        assert groups[by_name["again.jpg"].group_id] == {
            by_name["ukbench00000.jpg"].image_id,
            by_name["again.jpg"].image_id,
        }
        thumbnail = client.download(job, by_name["again.jpg"].image_id, "thumbnail")
        assert Image.open(io.BytesIO(thumbnail)).size[0] > 0
        assert client.download(job, by_name["again.jpg"].image_id, "original") == photos["a"]
        with pytest.raises(ApiError) as missing:
            client.download(job, broken.image_id, "thumbnail")
        assert missing.value.status == 404


def test_remove_background_then_download_the_cutout(server: Server, photos: dict[str, bytes]) -> None:
    with Client(server.base_url, poll=FAST_POLL) as client:
        job = client.wait(client.remove_background([("shoe.jpg", photos["c"])], format="png", crop=True), 180)
        assert job.status == "succeeded" and job.images[0].status == "succeeded"
        cutout = Image.open(io.BytesIO(client.download(job, job.images[0].image_id, "cutout")))
        assert cutout.format == "PNG" and cutout.mode == "RGBA"


def test_the_async_client_submits_waits_and_downloads(server: Server, photos: dict[str, bytes]) -> None:
    async def main() -> tuple[str, int, bytes]:
        async with AsyncClient(server.base_url, tenant="async", poll=FAST_POLL) as client:
            submitted = await client.group_images([("a.jpg", photos["a"]), ("b.jpg", photos["b"])])
            job = await client.wait(submitted, timeout=180)
            return job.status, len(job.groups), await client.download(job, "img-0001", "original")

    status, groups, original = anyio.run(main)
    assert (status, groups, original) == ("succeeded", 2, photos["a"])


def test_bad_input_raises_one_error_type_with_the_problem_fields(server: Server) -> None:
    with Client(server.base_url) as client:
        with pytest.raises(ApiError) as not_an_image:
            client.group_images([("notes.jpg", b"these bytes are no image at all")])
        with pytest.raises(ApiError) as bad_option:
            client.remove_background([("x.png", b"\x89PNG\r\n\x1a\n")], format="gif")
        with pytest.raises(ApiError) as unknown:
            client.get_job("0123456789abcdef")
    assert not_an_image.value.status == 415 and not_an_image.value.title
    assert not_an_image.value.type.startswith("urn:bgremover:problem:") and not_an_image.value.detail
    assert not_an_image.value.request_id
    assert bad_option.value.status == 422 and bad_option.value.slug == "invalid-options"
    assert unknown.value.status == 404 and unknown.value.slug == "not-found"


def test_the_same_idempotency_key_returns_the_first_job(server: Server, photos: dict[str, bytes]) -> None:
    with Client(server.base_url, tenant="idem") as client:
        first = client.group_images([("a.jpg", photos["a"])], idempotency_key="order-1")
        again = client.group_images([("a.jpg", photos["a"])], idempotency_key="order-1")
        fresh = client.group_images([("a.jpg", photos["a"])])  # a new logical submit: a new key
        with pytest.raises(ApiError) as reused:
            client.group_images([("b.jpg", photos["b"])], idempotency_key="order-1")
    assert again.job_id == first.job_id and again.raw.get("statusUrl")
    assert fresh.job_id != first.job_id
    assert reused.value.status == 422 and reused.value.problem["jobId"] == first.job_id


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[tuple[Server, str]]:
    """A serve with auth on, a stored key for ``acme`` (made by ``bg-remover keys create``), a static
    key for ``limited`` whose submit rate is 1 per ``RATE_S`` s, a short enqueue bound, no workers."""
    workdir = tmp_path_factory.mktemp("guarded")
    (workdir / "var").mkdir()
    env = {
        "BGR_AUTH_MODE": "on",
        "BGR_API_KEYS": json.dumps({"limited": LIMITED_KEY}),
        "BGR_TENANT_LIMITS": json.dumps({"limited": {"rate_limit": f"1/{RATE_S} seconds"}}),
        "BGR_ENQUEUE_TIMEOUT_S": "0.5",
    }
    command = [
        sys.executable,
        "-c",
        "from bgremover.cli import main; main()",
        "keys",
        "create",
        "--tenant",
        "acme",
    ]
    created = subprocess.run(
        command, cwd=workdir, env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    with running_server(workdir, model_dir, workers=0, probe="/healthz", **env) as running:
        yield running, created.stdout.strip()


def recorded(statuses: list[int]) -> httpx.Client:
    return httpx.Client(timeout=30, event_hooks={"response": [lambda r: statuses.append(r.status_code)]})


def test_auth_errors_a_stored_key_a_wait_timeout_and_cancel(
    guarded: tuple[Server, str], photos: dict[str, bytes]
) -> None:
    server, stored_key = guarded
    for credentials in ({}, {"api_key": "bgr_0000000000000000_wrong"}, {"token": "not.a.jwt"}):
        with Client(server.base_url, **credentials) as client, pytest.raises(ApiError) as refused:
            client.get_job("0123456789abcdef")
        assert refused.value.status == 401 and refused.value.slug == "unauthorized"
    with Client(server.base_url, api_key=stored_key, poll=FAST_POLL) as client:
        job = client.group_images([("a.jpg", photos["a"])])
        assert client.get_job(job).tenant_id == "acme"
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError):  # no workers here: the job stays queued
            client.wait(job, timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 5
        assert client.cancel(job).status == "canceled" and client.wait(job, timeout=1).status == "canceled"


def test_a_429_is_retried_after_its_retry_after(
    guarded: tuple[Server, str], photos: dict[str, bytes]
) -> None:
    server, _ = guarded
    statuses: list[int] = []
    with Client(server.base_url, api_key=LIMITED_KEY, http=recorded(statuses)) as client:
        client.group_images([("a.jpg", photos["a"])])
        started = time.monotonic()
        second = client.group_images([("b.jpg", photos["b"])])
        assert second.status == "queued" and time.monotonic() - started >= 1
        assert statuses == [202, 429, 202]
    with (
        Client(server.base_url, api_key=LIMITED_KEY, retry=RetryPolicy(attempts=1)) as impatient,
        pytest.raises(ApiError) as refused,
    ):
        impatient.group_images([("c.jpg", photos["c"])])
        assert refused.value.status == 429 and refused.value.slug == "rate-limited"
        assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= RATE_S


def test_a_refused_queue_hand_off_is_retried_with_the_same_key(
    guarded: tuple[Server, str], photos: dict[str, bytes]
) -> None:
    """The SQLite queue held by another writer: the first attempt gets 503 + Retry-After (the job it
    made is failed), the lock goes away, the retry with the same Idempotency-Key is accepted."""
    server, stored_key = guarded
    queue = sqlite3.connect(
        server.workdir / "var" / "queue.db", isolation_level=None, timeout=0, check_same_thread=False
    )
    queue.execute("BEGIN EXCLUSIVE")
    threading.Timer(2.0, lambda: queue.execute("ROLLBACK")).start()
    statuses: list[int] = []
    refused: list[str] = []

    def on_response(response: httpx.Response) -> None:
        if response.status_code == 503:
            response.read()
            refused.append(response.json()["jobId"])

    http = recorded(statuses)
    http.event_hooks["response"].append(on_response)
    with Client(server.base_url, api_key=stored_key, http=http) as client:
        job = client.remove_background([("a.jpg", photos["a"])])
        assert statuses == [503, 202] and job.status == "queued"
        failed = client.get_job(refused[0])
        assert failed.status == "failed" and failed.error is not None and failed.error["stage"] == "enqueue"
        assert failed.job_id != job.job_id
    queue.close()
