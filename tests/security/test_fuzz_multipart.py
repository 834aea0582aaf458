"""Property-based fuzzing of multipart submit bodies, in-process on the real embedded backends: hostile
boundaries, part headers (names, file names, charsets, missing or repeated parameters, NUL and invalid
UTF-8), option values of every shape, and a valid body cut or corrupted anywhere. The answer is 202 or
a precise 4xx problem, in bounded time, and the server stays healthy."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from api.support import assert_problem, png_bytes
from security.fuzz_support import ROI_VALUES, assert_answered_properly, fuzzed, timed

ROUTES = ["/v1/group-images", "/v1/remove-background"]
PNG = png_bytes((4, 4))
hostile_bytes = st.binary(max_size=40) | st.sampled_from(
    [b"", b"\x00", b"\xff\xfe", b"\xc3(", b"../../etc/passwd", b'a"b', b"a\r\nb", b"%00", b"\xe2\x80\xae"]
)
field_names = (
    st.sampled_from(
        [
            b"images",
            b"threshold",
            b"format",
            b"bg_color",
            b"margin",
            b"max_size",
            b"crop",
            b"remove_background",
            b"roi",
        ]
    )
    | hostile_bytes
)
option_values = (
    st.sampled_from(
        [b"0.3", b"nan", b"-inf", b"-1", b"1e309", b"9" * 5000, b"true", b"webp", b"#fff", b"", b" ", b"\x00"]
    )
    | st.sampled_from([roi.encode() for roi in ROI_VALUES])
    | hostile_bytes
)
charsets = st.sampled_from([b"utf-8", b"latin-1", b"bogus-charset", b"utf-32", b"\xff", b'"', b""])


@st.composite
def parts(draw: st.DrawFn) -> bytes:
    name = draw(field_names)
    disposition = b'form-data; name="' + name + b'"'
    if draw(st.booleans()):
        disposition += b'; filename="' + draw(hostile_bytes | st.just(b"photo.png")) + b'"'
    disposition = draw(
        st.sampled_from(
            [
                disposition,
                disposition,
                disposition.replace(b'"', b""),
                disposition + b'; name="images"; filename="second.png"',  # parameters repeated
                disposition + b"; filename*=UTF-8''%ff%fe%00.png",  # RFC 5987 form, invalid UTF-8
                b"form-data",
                b"",
                b";;=",
            ]
        )
    )
    headers = [b"Content-Disposition: " + disposition]
    if draw(st.booleans()):
        headers.append(
            b"Content-Type: " + draw(st.sampled_from([b"image/png", b"text/plain; charset="]) | hostile_bytes)
        )
    if draw(st.integers(0, 3)) == 0:
        headers.append(draw(hostile_bytes))  # a header line that is no header
    content = draw(st.just(PNG) | option_values | st.binary(max_size=200))
    return b"\r\n".join(headers) + b"\r\n\r\n" + content


IMAGE_PART = (
    b'Content-Disposition: form-data; name="images"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    + PNG
)
token_boundaries = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=? ", min_size=1, max_size=70
).map(lambda text: text.strip().encode() or b"b")


@st.composite
def option_requests(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Clean framing, a valid image, and hostile option values only: option validation is reached."""
    options = draw(
        st.dictionaries(field_names.filter(lambda name: name != b"images"), option_values, max_size=4)
    )
    parts = [IMAGE_PART] + [
        b'Content-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value
        for name, value in options.items()
    ]
    body = b"".join(b"--b0und4ry\r\n" + part + b"\r\n" for part in parts) + b"--b0und4ry--\r\n"
    return b"multipart/form-data; boundary=b0und4ry", body


@st.composite
def multipart_requests(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A content type and a body: mostly well framed around a valid image with hostile parts beside
    it (so the parser's later stages are reached), sometimes hostile framing, then possibly cut or
    corrupted anywhere."""
    boundary = draw(
        token_boundaries | st.sampled_from([b"-", b"x" * 200]) | st.binary(min_size=1, max_size=72)
    )
    hostile = draw(st.lists(parts(), max_size=5))
    chosen = draw(st.sampled_from(["first", "last", "none"]))
    framed = (
        [IMAGE_PART, *hostile]
        if chosen == "first"
        else [*hostile, IMAGE_PART]
        if chosen == "last"
        else hostile
    )
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in framed)
    body += b"--" + boundary + b"--\r\n"
    mutation = draw(st.sampled_from(["none", "none", "cut", "replace"]))
    if mutation != "none":
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] if mutation == "cut" else body[:cut] + draw(st.binary(max_size=8)) + body[cut + 1 :]
    params = draw(
        st.sampled_from(
            [
                b"; boundary=" + boundary,
                b'; boundary="' + boundary + b'"',
                b'; boundary="' + boundary + b'"',
                b"",
                b"; boundary=",
                b"; boundary=other",
            ]
        )
    )
    if draw(st.booleans()):
        params += b"; charset=" + draw(charsets)
    return b"multipart/form-data" + params, body


def _valid_body(boundary: bytes, *extra_parts: bytes) -> bytes:
    image = b'Content-Disposition: form-data; name="images"; filename="a.png"\r\n\r\n' + PNG
    return (
        b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in (image, *extra_parts))
        + b"--"
        + boundary
        + b"--\r\n"
    )


@pytest.mark.parametrize("route", ROUTES)
@fuzzed
@given(request=multipart_requests() | option_requests())
@example(request=(b"multipart/form-data; boundary=x; charset=bogus-charset", _valid_body(b"x")))
@example(
    request=(
        b"multipart/form-data; boundary=x",
        _valid_body(b"x", b'Content-Disposition: form-data; name="margin"\r\n\r\n' + b"9" * 5000),
    )
)
def test_any_multipart_body_is_202_or_a_4xx_problem(fuzz_client, route, request):
    content_type, body = request
    response = timed(lambda: fuzz_client.post(route, content=body, headers={"Content-Type": content_type}))
    assert_answered_properly(response)


def test_an_unknown_charset_falls_back_and_the_body_is_still_read(client):
    """Starlette falls back to latin-1 for a charset it does not know; the submit is read as usual."""
    response = client.post(
        "/v1/group-images",
        content=_valid_body(b"x"),
        headers={"Content-Type": "multipart/form-data; boundary=x; charset=bogus"},
    )
    assert response.status_code == 202, response.text


def test_missing_boundary_is_400_malformed_multipart(client):
    response = client.post(
        "/v1/group-images", content=_valid_body(b"x"), headers={"Content-Type": "multipart/form-data"}
    )
    assert_problem(response, 400, "malformed-multipart")
