"""What every fuzz suite of the request parsers shares: one Hypothesis settings profile and the one
property they check.

The profile is derandomized (the examples are a function of the test alone, so a failure in CI
reproduces on any machine) and bounded, so each suite costs a few seconds inside ``make test``.
``BGR_FUZZ_EXAMPLES`` raises the bound for a longer campaign; ``BGR_FUZZ_SEED`` then explores other
examples than the fixed ones, and is the record of that campaign: the same seed and count draw the
same examples again. Failing examples are shrunk and printed with their ``@reproduce_failure`` blob."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import httpx
from hypothesis import HealthCheck, currently_in_test_context, event, seed, settings
from hypothesis import strategies as st

from api.support import png_bytes
from bgremover.problems import PROBLEM_TYPE_BASE

PROFILE = "bgr-fuzz"
# remove.bg-style rectangles for the ``roi`` option (per job, or per image in a JSON body), and hostile
# ones: until that option exists they are 422 unknown options, after it they reach its parser
ROI_VALUES = [
    "0% 0% 100% 100%",
    "10px 20px 300px 400px",
    "100% 100% 0% 0%",
    "-1px 0px 5px 5px",
    "nan% 0% 1e999% 100%",
    "99999999999999999999999px 0px 1px 1px",
    "\uff11\uff10px 0px 5px 5px",  # full-width digits: str.isdigit says yes, int() says yes too
    "0 0",
    "1px 2px 3px 4px 5px",
    "",
    "\x00",
]
# what a server may deliver in a header value (no CR or LF: those end the header), NUL included
HEADER_VALUES = st.binary(max_size=120).map(
    lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"")
) | st.sampled_from(
    [
        b"",
        b" ",
        b"\x00",
        b"acme",
        b"ACME",
        b"a" * 64,
        b"\xc3\xa9",
        b"../x",
        b"\xb2",
        b"9" * 5000,
        b"-1",
        b"0x10",
    ]
)
# a generous bound on a shared 2-core machine: what it catches is a request that hangs or is quadratic
MAX_SECONDS_PER_REQUEST = 5.0

settings.register_profile(
    PROFILE,
    max_examples=int(os.environ.get("BGR_FUZZ_EXAMPLES", "150")),
    derandomize="BGR_FUZZ_SEED" not in os.environ,
    deadline=None,  # timing is asserted per request instead: a deadline is flaky on a loaded machine
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def fuzzed(test: Callable[..., None]) -> Callable[..., None]:
    """A ``@given`` test run under the fuzz profile, with ``BGR_FUZZ_SEED`` as its seed when set."""
    test = settings(settings.get_profile(PROFILE))(test)
    chosen = os.environ.get("BGR_FUZZ_SEED")
    return seed(int(chosen))(test) if chosen else test


def assert_answered_properly(response: httpx.Response, accepted: int = 202) -> None:
    """The one property: the input was valid (``accepted``) or is refused with a precise 4xx problem."""
    status = response.status_code
    if status == accepted:
        _record(str(status))
        return
    assert 400 <= status < 500, (status, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    _record(f"{status} {body['type'].removeprefix(PROBLEM_TYPE_BASE)}")
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_TYPE_BASE) and body["type"] != f"{PROBLEM_TYPE_BASE}internal-error"
    assert body["detail"]


def _record(answer: str) -> None:
    """The spread of answers of a fuzz run, shown by ``--hypothesis-show-statistics``."""
    if currently_in_test_context():
        event(answer)


def timed(send: Callable[[], httpx.Response]) -> httpx.Response:
    """The response of ``send``, asserted to come within ``MAX_SECONDS_PER_REQUEST``."""
    started = time.monotonic()
    response = send()
    elapsed = time.monotonic() - started
    assert elapsed < MAX_SECONDS_PER_REQUEST, f"answered in {elapsed:.1f} s"
    return response


def assert_healthy(client: httpx.Client) -> None:
    """After a hostile run the server still answers its probe and still accepts a valid submit."""
    assert client.get("/healthz").status_code == 200
    response = client.post("/v1/group-images", files=[("images", ("ok.png", png_bytes(), "image/png"))])
    assert response.status_code == 202, response.text
