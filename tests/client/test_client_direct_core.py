"""``direct=True`` on a scripted transport: what the real serve cannot be made to do on cue (a PUT
whose answer is lost, a presigned URL on another origin), and what is refused before any request."""

from __future__ import annotations

import io
import json

import httpx
import pytest

from bgremover.client import ApiError, Client, RetryPolicy

API = "http://127.0.0.1:9"
BUCKET = "https://bucket.s3.example/acme/uploads/u1/img-0001.original?X-Amz-Signature=abc"
SLOT = {"slot": "tok-1", "imageId": "img-0001", "method": "PUT", "url": BUCKET}


def scripted(answers: list[httpx.Response | Exception], seen: list[httpx.Request]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_a_put_whose_answer_was_lost_is_retried_and_a_used_slot_counts_as_stored():
    slots = {"uploadId": "u1", "slots": [{**SLOT, "headers": {"Content-Type": "image/jpeg"}}]}
    used = {"type": "urn:bgremover:problem:upload-slot-used", "title": "Conflict", "status": 412}
    answers: list[httpx.Response | Exception] = [
        httpx.Response(201, json=slots),
        httpx.ReadError("reset after the body was sent"),
        httpx.Response(412, json=used),  # S3's If-None-Match: the first attempt stored it
        httpx.Response(202, json={"jobId": "j1", "status": "queued"}),
    ]
    seen: list[httpx.Request] = []
    retry = RetryPolicy(backoff_s=0.001)
    with Client(API, api_key="bgr_secret", retry=retry, http=scripted(answers, seen)) as client:
        job = client.group_images([("shoe.jpg", io.BytesIO(b"jpeg bytes"))], direct=True, threshold=0.4)
    assert job.job_id == "j1" and not answers
    declared, first_put, second_put, submit = seen
    assert json.loads(declared.content) == {
        "files": [{"filename": "shoe.jpg", "size": 10, "contentType": "image/jpeg"}]
    }
    assert declared.headers["x-api-key"] == "bgr_secret"
    for put in (first_put, second_put):  # the whole photo each time, sized, and no credentials of ours
        assert put.method == "PUT" and str(put.url) == BUCKET and put.content == b"jpeg bytes"
        assert put.headers["content-length"] == "10" and "x-api-key" not in put.headers
    assert submit.url.path == "/v1/group-images" and submit.headers["x-api-key"] == "bgr_secret"
    assert json.loads(submit.content) == {"uploads": ["tok-1"], "threshold": 0.4}
    assert "idempotency-key" not in submit.headers  # the upload id is the key, on the server


def test_a_refused_put_raises_the_problem_and_submits_nothing():
    slots = {"uploadId": "u1", "slots": [{**SLOT, "headers": {}}]}
    expired = {"type": "urn:bgremover:problem:upload-slot-expired", "title": "Gone", "status": 410}
    answers: list[httpx.Response | Exception] = [
        httpx.Response(201, json=slots),
        httpx.Response(410, json=expired),
    ]
    seen: list[httpx.Request] = []
    with Client(API, http=scripted(answers, seen)) as client, pytest.raises(ApiError) as refused:
        client.remove_background([b"photo"], direct=True)
    assert refused.value.status == 410 and refused.value.slug == "upload-slot-expired"
    assert len(seen) == 2  # slots, the PUT: no submit


def test_what_a_direct_upload_refuses_before_any_request():
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    seen: list[httpx.Request] = []
    with Client(API, http=scripted([], seen)) as client:
        with pytest.raises(ValueError, match="sized source"):
            client.group_images([Pipe()], direct=True)
        with pytest.raises(ValueError, match="idempotency_key"):
            client.group_images([b"photo"], direct=True, idempotency_key="order-1")
    assert seen == []
