"""Property-based fuzzing of the reads' path segments (job, image, kind), methods, query strings and
Range headers, on SQLite and on PostgreSQL (which refuses a NUL byte in a query parameter outright): the
answer is 200 or a precise 4xx problem, in bounded time, and the server stays healthy."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from api.support import assert_problem, png_bytes
from security.fuzz_support import HEADER_VALUES, assert_answered_properly, fuzzed, timed

PNG = png_bytes((4, 4))


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(settings, ledger_url):
    """tests/api's settings on SQLite, then on a fresh PostgreSQL database."""
    return settings.model_copy(update={"database_url": ledger_url})


@pytest.fixture
def job_id(fuzz_client):
    """A job of the tenant, so the fuzzed image paths reach a real ledger row; still there afterwards."""
    response = fuzz_client.post("/v1/remove-background", files=[("images", ("a.png", PNG, "image/png"))])
    assert response.status_code == 202, response.text
    yield response.json()["jobId"]
    assert fuzz_client.get(f"/v1/jobs/{response.json()['jobId']}").status_code == 200


segments = st.text(max_size=80) | st.sampled_from(
    ["\x00", "a\x00b", "img-0001", "x" * 5000, "..", "%", "\udcff", " "]
)


@fuzzed
@given(
    method=st.sampled_from(["GET"] * 5 + ["DELETE"] * 2 + ["POST", "PUT", "PATCH", "OPTIONS", "BREW"]),
    job=st.one_of(st.just("JOB"), st.just("JOB"), segments),  # the real job, half the time
    image=st.one_of(st.just("img-0001"), segments),
    kind=st.sampled_from(["original", "thumbnail", "cutout", "mask"]) | segments,
    depth=st.integers(1, 3),
    query=st.text(max_size=60),
    range_header=st.none()
    | HEADER_VALUES
    | st.sampled_from([b"bytes=0-0", b"bytes=-1", b"bytes=9999999999999999999-", b"bytes=1-0,0-1"]),
)
@example(method="GET", job="\x00", image="img-0001", kind="original", depth=1, query="", range_header=None)
@example(
    method="DELETE", job="a\x00b", image="img-0001", kind="original", depth=1, query="", range_header=None
)
@example(method="GET", job="JOB", image="\x00", kind="original", depth=3, query="", range_header=None)
def test_read_paths_are_200_or_a_4xx_problem(
    fuzz_client, job_id, method, job, image, kind, depth, query, range_header
):
    job = job_id if job == "JOB" else job
    segments = [
        quote(part.encode("utf-8", "surrogatepass"), safe="") for part in (job, "images", image, kind)
    ]
    path = "/v1/jobs/" + "/".join(segments[: 1 if depth == 1 else 4]) + "?" + quote(query, safe="=&")
    headers = {"Range": range_header} if range_header is not None else {}
    response = timed(lambda: fuzz_client.request(method, path, headers=headers))
    assert_answered_properly(response, accepted=200)


@pytest.mark.parametrize("bad_id", ["%00", "a%00b", "x" * 65, "a.b", "%C3%A9"])
def test_ids_the_service_never_issues_are_404_before_any_ledger_query(client, job_id, bad_id):
    assert_problem(client.get(f"/v1/jobs/{bad_id}"), 404, "not-found")
    assert_problem(client.delete(f"/v1/jobs/{bad_id}"), 404, "not-found")
    assert_problem(client.get(f"/v1/jobs/{job_id}/images/{bad_id}/original"), 404, "not-found")
