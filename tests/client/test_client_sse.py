"""``wait()`` on the job's SSE stream (against the named test double ``sse_double``): events decoded,
heartbeats skipped, a dropped stream resumed with ``Last-Event-ID``; downloads that redirect to another
origin get no credentials; the ZIP is streamed into its file."""

from __future__ import annotations

import anyio
import pytest
from sse_double import ARCHIVE, JOB_ID, job_double

from bgremover.client import AsyncClient, Client, PollPolicy
from bgremover.client.sse import ServerEvent, SseDecoder

FAST = PollPolicy(initial_s=0.01, max_s=0.05)


def decode(lines: list[str]) -> list[ServerEvent]:
    decoder = SseDecoder()
    return [event for line in lines if (event := decoder.feed(line)) is not None]


def test_decoder_joins_data_lines_skips_comments_and_keeps_the_last_id():
    lines = [": ping", "", "id: 7", "event: progress", "data: {", "data:  1}", "", "data: x", ""]
    events = decode(lines)
    assert events == [ServerEvent("progress", "{\n 1}", "7"), ServerEvent("message", "x", "7")]


def test_wait_follows_the_stream_and_resumes_from_the_last_event_id():
    with job_double() as double, Client(double.base_url, api_key="k", poll=FAST) as client:
        job = client.wait(JOB_ID, timeout=10)
    assert job.status == "succeeded" and job.groups[0].image_ids == ("img-0001",)
    assert job.images[0].urls == {"thumbnail": "http://x/thumbnail"}
    resumed = [request.get("last-event-id") for request in double.event_requests]
    assert resumed == [None, "1"]
    assert double.event_requests[0]["accept"] == "text/event-stream"
    assert double.event_requests[0]["x-api-key"] == "k"
    assert double.job_gets == 1  # one look before the stream; no polling


def test_async_wait_follows_the_stream_too():
    async def main() -> str:
        async with AsyncClient(double.base_url, poll=FAST) as client:
            return (await client.wait(JOB_ID, timeout=10)).status

    with job_double() as double:
        assert anyio.run(main) == "succeeded"
        assert [request.get("last-event-id") for request in double.event_requests] == [None, "1"]


def test_without_an_event_stream_wait_polls_and_remembers():
    with job_double() as double, Client(double.base_url, poll=FAST) as client:
        double.events_enabled = False
        assert client.wait(JOB_ID, timeout=10).status == "succeeded"
        assert double.job_gets == 3 and client._core.events_supported is False


def test_redirected_download_sends_no_credentials_to_the_other_origin(tmp_path):
    with job_double() as double, Client(double.base_url, api_key="secret", token="t") as client:
        assert client.download(JOB_ID, "img-0001", "cutout") == b"\x89PNG-bytes"
        assert "x-api-key" not in double.blob_requests[0]
        assert "authorization" not in double.blob_requests[0]
        path = client.archive(JOB_ID, tmp_path / "job.zip")
    assert path.read_bytes() == ARCHIVE
    assert [p.name for p in tmp_path.iterdir()] == ["job.zip"]  # no partial file left behind


@pytest.mark.parametrize("missing", ["archive", "events"])
def test_an_unknown_job_is_an_api_error(missing):
    from bgremover.client import ApiError

    with job_double() as double, Client(double.base_url) as client, pytest.raises(ApiError) as raised:
        if missing == "archive":
            client.archive("nope", "/nonexistent/x.zip")
        else:
            client.wait("nope")
    assert raised.value.status == 404 and raised.value.slug == "not-found"
