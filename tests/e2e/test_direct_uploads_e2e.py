"""A direct upload end to end: slots from a real ``bg-remover serve``, photos PUT to the URLs it
gave, the job submitted by reference, run by a real worker on the real models."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from e2e_server import Server, wait_for_job

from api.support import png_bytes


def test_a_job_submitted_by_reference_runs_to_success(server: Server, photos: dict[str, bytes]) -> None:
    files = {"a.jpg": photos["a"], "a-again.jpg": photos["a"], "c.jpg": photos["c"]}
    with server.client("shop") as client:
        declared = [
            {"filename": name, "size": len(data), "contentType": "image/jpeg"} for name, data in files.items()
        ]
        issued = client.post("/v1/uploads", json={"files": declared})
        assert issued.status_code == 201, issued.text
        slots = issued.json()["slots"]
        for slot, data in zip(slots, files.values(), strict=True):
            assert slot["url"].startswith(server.base_url)  # local disk: the API takes the photo
            sent = client.request(slot["method"], slot["url"], content=data, headers=slot["headers"])
            assert sent.status_code == 204, sent.text

        response = client.post("/v1/group-images", json={"uploads": [slot["slot"] for slot in slots]})
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["jobId"])
        assert job["status"] == "succeeded", job
        assert job["tenantId"] == "shop" and job["progress"] == {"done": 3, "total": 3}
        images = {image["filename"]: image for image in job["result"]["images"]}
        assert all(image["status"] == "succeeded" for image in images.values())
        assert images["a.jpg"]["groupId"] == images["a-again.jpg"]["groupId"] != images["c.jpg"]["groupId"]
        thumbnail = client.get(images["c.jpg"]["thumbnailUrl"])
        assert thumbnail.status_code == 200 and thumbnail.content[:4] in {
            b"RIFF",
            b"\x89PNG",
            b"\xff\xd8\xff\xe0",
        }
        original = client.get(images["c.jpg"]["originalUrl"])
        assert original.content == photos["c"]


def test_a_second_put_while_the_first_still_streams_is_refused(server: Server) -> None:
    """Single use holds against a race too: the slot is taken when its first PUT starts, not when the
    photo lands."""
    data = png_bytes((64, 64))
    first_half_sent, finish = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield data[: len(data) // 2]
        first_half_sent.set()
        finish.wait(30)
        yield data[len(data) // 2 :]

    with server.client("shop") as client:
        issued = client.post("/v1/uploads", json={"files": [{"filename": "a.png", "size": len(data)}]})
        (slot,) = issued.json()["slots"]
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.put, slot["url"], content=slow_body())
            assert first_half_sent.wait(30)
            time.sleep(0.5)  # the first half reached the server
            second = client.put(slot["url"], content=data)
            finish.set()
            assert second.status_code == 409 and second.json()["type"].endswith("upload-slot-used")
            assert first.result(timeout=30).status_code == 204
        third = client.put(slot["url"], content=data)
        assert third.status_code == 409
        assert client.post("/v1/group-images", json={"uploads": [slot["slot"]]}).status_code == 202
