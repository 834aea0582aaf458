"""Property-based fuzzing of the JSON submit body, in-process on the real embedded backends: whatever
the bytes (deep nesting, huge numbers and strings, invalid UTF-8, NUL, duplicate keys, wrong types at
every level, a valid body cut at any offset), the answer is 202 or a precise 4xx problem, in bounded
time, and the server stays healthy."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from api.support import assert_nothing_created, assert_problem, png_bytes
from security.fuzz_support import ROI_VALUES, assert_answered_properly, fuzzed, timed

ROUTES = ["/v1/group-images", "/v1/remove-background"]
JSON = {"Content-Type": "application/json"}
PNG_B64 = base64.b64encode(png_bytes((4, 4))).decode()
VALID = json.dumps({"images": [{"filename": "a.png", "data": PNG_B64}], "threshold": 0.3}).encode()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "\x00", PNG_B64, "transparent", "#fff", "webp", "1e999", "-1", "NaN"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
option_names = st.sampled_from(
    ["threshold", "remove_background", "format", "bg_color", "crop", "margin", "max_size", "mask_only", "roi"]
) | st.text(max_size=12)
rois = st.sampled_from(ROI_VALUES) | values
VALID_ENTRY = {"filename": "a.png", "data": PNG_B64}
entries = st.one_of(
    st.just(VALID_ENTRY),
    st.fixed_dictionaries({"data": st.just(PNG_B64)}, optional={"filename": values, "roi": rois}),
    st.fixed_dictionaries({}, optional={"filename": values, "data": values}),
    values,
)
option_values = st.one_of(
    st.sampled_from([0.3, 2, 1e-300, 1e300, -1, 0, True, "png", "jpeg", "#ABC", "transparent", None, 10**20]),
    st.sampled_from(ROI_VALUES),
    values,
)
valid_shaped = st.builds(
    lambda first, more, options: {**options, "images": [first, *more]},
    entries,
    st.lists(st.just(VALID_ENTRY) | entries, max_size=3),
    st.dictionaries(option_names, option_values, max_size=3),
)
valid_images = st.builds(
    lambda options: {**options, "images": [VALID_ENTRY]},
    st.dictionaries(option_names, option_values, min_size=1, max_size=3),
)  # only the options hostile: their validation is reached every time
# mostly the documented shape with something wrong inside it, so validation past the shape is reached
documents = st.one_of(
    valid_images, valid_shaped, valid_shaped, st.fixed_dictionaries({"images": values}), values
)


def _nested(opening: bytes, depth: int) -> bytes:
    closing = opening.translate(bytes.maketrans(b"[{", b"]}"))
    return opening * depth + closing * depth


def _deep(brackets: str, depth: int) -> bytes:
    """``depth`` levels of arrays and objects mixed, inside a plausible body so the shape is legal."""
    levels = (brackets * (depth // len(brackets) + 1))[:depth]
    opening = b"".join(b"[" if level == "[" else b'{"k":' for level in levels)
    closing = b"".join(b"]" if level == "[" else b"}" for level in reversed(levels))
    return (
        b'{"images": [{"data": "' + PNG_B64.encode() + b'", "filename": ' + opening + b"0" + closing + b"}]}"
    )


raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.integers(0, len(VALID)).map(lambda cut: VALID[:cut]),  # truncation at every offset
    st.tuples(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=4)).map(
        lambda edit: VALID[: edit[0]] + edit[1] + VALID[edit[0] + 1 :]
    ),  # bytes replaced anywhere: invalid UTF-8, NUL, stray quotes and brackets
    st.builds(_deep, st.text(alphabet="[{", min_size=1, max_size=3), st.integers(1, 5000)),
    st.integers(1, 10_000).map(lambda digits: b'{"images": [], "threshold": ' + b"9" * digits + b"}"),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]).map(
        lambda n: b'{"images": [], "threshold": ' + n + b"}"
    ),
    st.integers(0, 1_000_000).map(lambda n: b'{"images": [{"data": "' + b"A" * n + b'"}]}'),
    st.builds(
        lambda key, first, second: b"{%s: %s, %s: %s}" % (key, first, key, second),
        st.sampled_from([b'"images"', b'"threshold"', b'"format"']),
        st.sampled_from([b"[]", b"0.3", b'"png"', b"null", b"[" + VALID + b"]"]),
        st.sampled_from([b"[]", b"7", b'"gif"', b"{}"]),
    ),  # duplicate keys
)


@pytest.mark.parametrize("route", ROUTES)
@fuzzed
@given(document=documents)
def test_any_json_document_is_202_or_a_4xx_problem(fuzz_client, route, document):
    response = timed(lambda: fuzz_client.post(route, content=json.dumps(document).encode(), headers=JSON))
    assert_answered_properly(response)


@pytest.mark.parametrize("route", ROUTES)
@fuzzed
@given(body=raw_bodies)
@example(body=_nested(b"[", 50_000))  # issue 17: this answered 500 (RecursionError in json.loads)
@example(body=_nested(b'{"a":', 50_000).replace(b"}" * 50_000, b"1" + b"}" * 50_000))
@example(body=b"\xff\xfe" + VALID)
@example(body=VALID.replace(b'"a.png"', b'"\\ud800"'))
def test_any_body_bytes_are_202_or_a_4xx_problem(fuzz_client, route, body):
    response = timed(lambda: fuzz_client.post(route, content=body, headers=JSON))
    assert_answered_properly(response)


@pytest.mark.parametrize("depth", [256, 50_000])
def test_deep_json_is_400_malformed_json(client, services, depth):
    response = client.post("/v1/group-images", content=_nested(b"[", depth), headers=JSON)
    body = assert_problem(response, 400, "malformed-json")
    assert "recursion limit" in body["detail"]
    assert_nothing_created(services)


def test_a_shallow_body_with_many_images_is_still_accepted(client):
    """The depth bound is on nesting, not on size: a wide body of the legal shape passes."""
    images = [{"filename": f"{i}.png", "data": PNG_B64} for i in range(200)]
    response = client.post("/v1/group-images", json={"images": images, "threshold": 0.3})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "body", [b'{"images": [], "threshold": NaN}', b'{"images": [], "threshold": 1' + b"0" * 5000 + b"}"]
)
def test_nan_and_unconvertible_integers_are_malformed_json(client, body):
    assert_problem(client.post("/v1/group-images", content=body, headers=JSON), 400, "malformed-json")
