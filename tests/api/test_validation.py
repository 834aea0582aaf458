"""Invalid requests are answered at once as problem+json and leave nothing behind."""

from __future__ import annotations

import base64

import pytest

from api.support import assert_nothing_created, assert_problem, images_part, noise_png, png_bytes
from bgremover.api.problems import ProblemError
from bgremover.api.uploads import check_image_size
from bgremover.settings import Settings


def test_too_many_images_is_413(make_client, services):
    client = make_client(max_images_per_request=2)
    response = client.post("/v1/group-images", files=images_part(png_bytes(), png_bytes(), png_bytes()))
    assert_problem(response, 413, "payload-too-large")
    assert_nothing_created(services)


def test_image_over_the_per_file_limit_is_413_and_named(make_client, services):
    small, large = png_bytes((8, 8)), noise_png((40, 40))
    client = make_client(max_image_bytes=len(small) + 10)
    response = client.post("/v1/group-images", files=images_part(small, large))
    body = assert_problem(response, 413, "payload-too-large")
    assert body["filename"] == "1-photo.png"
    assert_nothing_created(services)


def test_an_image_over_the_limit_is_refused_alike_sent_whole_or_declared_for_a_slot(make_client, services):
    """One rule (``check_image_size``) sizes a photo whether a submit carries it or a direct upload
    declares it: same status, type, detail and extensions either way."""
    data = noise_png((40, 40))
    client = make_client(max_image_bytes=len(data) - 1)
    encoded = base64.b64encode(data).decode()
    sent = client.post(
        "/v1/remove-background", json={"images": [{"filename": "dir/big.png", "data": encoded}]}
    )
    declared = client.post("/v1/uploads", json={"files": [{"filename": "dir/big.png", "size": len(data)}]})
    bodies = [assert_problem(response, 413, "payload-too-large") for response in (sent, declared)]
    same = ("type", "title", "status", "detail", "filename", "limit")
    assert [{key: body.get(key) for key in same} for body in bodies] == [
        {
            "type": bodies[0]["type"],
            "title": bodies[0]["title"],
            "status": 413,
            "detail": f"image 'big.png' has {len(data)} bytes, over the limit of {len(data) - 1}",
            "filename": "big.png",
            "limit": len(data) - 1,
        }
    ] * 2
    settings = Settings(max_image_bytes=len(data) - 1)
    with pytest.raises(ProblemError) as refused:
        check_image_size("big.png", len(data), settings)
    assert refused.value.detail == bodies[0]["detail"]
    check_image_size("big.png", len(data) - 1, settings)  # at the limit: taken
    assert_nothing_created(services)


def test_body_over_the_request_limit_is_413(make_client, services):
    client = make_client(max_request_bytes=2_000)
    response = client.post("/v1/group-images", files=images_part(*[noise_png((20, 20)) for _ in range(5)]))
    assert_problem(response, 413, "payload-too-large")
    assert_nothing_created(services)


def test_json_body_over_the_request_limit_is_413(make_client, services):
    client = make_client(max_request_bytes=500)
    data = base64.b64encode(noise_png((20, 20))).decode()
    response = client.post(
        "/v1/remove-background", json={"images": [{"filename": "a.png", "data": data}] * 3}
    )
    assert_problem(response, 413, "payload-too-large")
    assert_nothing_created(services)


def test_bytes_that_are_no_image_are_415_whatever_the_name(client, services):
    files = [*images_part(png_bytes()), ("images", ("fake.jpg", b"<html>not an image</html>", "image/jpeg"))]
    body = assert_problem(client.post("/v1/group-images", files=files), 415, "unsupported-media-type")
    assert body["filename"] == "fake.jpg"
    assert_nothing_created(services)


def test_unsupported_body_type_is_415(client, services):
    response = client.post("/v1/group-images", content=png_bytes(), headers={"Content-Type": "image/png"})
    assert_problem(response, 415, "unsupported-media-type")
    assert_nothing_created(services)


@pytest.mark.parametrize(
    ("route", "fields"),
    [
        ("/v1/remove-background", {"bg_color": "red"}),
        ("/v1/remove-background", {"format": "gif"}),
        ("/v1/remove-background", {"margin": "-3"}),
        ("/v1/remove-background", {"colour": "#fff"}),
        ("/v1/remove-background", {"threshold": "0.3"}),
        ("/v1/group-images", {"threshold": "7"}),
        ("/v1/group-images", {"remove_background": "perhaps"}),
    ],
)
def test_invalid_options_are_422_with_the_field_named(client, services, route, fields):
    response = client.post(route, files=images_part(png_bytes()), data=fields)
    body = assert_problem(response, 422, "invalid-options")
    assert body["errors"][0]["loc"][-1] == next(iter(fields))
    assert_nothing_created(services)


@pytest.mark.parametrize(
    ("kwargs", "slug"),
    [
        ({"files": [("other", ("a.png", png_bytes(), "image/png"))]}, "unexpected-file"),
        ({"files": [("threshold", (None, b"0.3"))]}, "no-images"),
        ({"json": {"images": []}}, "no-images"),
        ({"json": {"images": [{"filename": "a.png", "data": "***"}]}}, "malformed-base64"),
        ({"json": {"pictures": []}}, "malformed-json"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, "malformed-json"),
    ],
)
def test_malformed_requests_are_400(client, services, kwargs, slug):
    assert_problem(client.post("/v1/group-images", **kwargs), 400, slug)
    assert_nothing_created(services)


def test_duplicate_option_fields_are_400(client, services):
    files = images_part(png_bytes())
    response = client.post("/v1/group-images", files=files, data={"threshold": ["0.2", "0.3"]})
    assert_problem(response, 400, "duplicate-field")
    assert_nothing_created(services)
