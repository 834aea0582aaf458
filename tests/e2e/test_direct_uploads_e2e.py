"""A direct upload end to end: slots from a real ``bg-remover serve``, photos PUT to the URLs it
gave, the job submitted by reference, run by a real worker on the real models."""

from __future__ import annotations

from e2e_server import Server, wait_for_job


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
