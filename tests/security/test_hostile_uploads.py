"""Hostile uploads through the HTTP API: each is answered with a precise 4xx problem and leaves no job,
or (truncated files, animations) is accepted and then handled per image by the worker's decoder.
Never a 5xx, and a client's file name is never part of a storage key."""

from __future__ import annotations

import base64
import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from api.support import assert_nothing_created, assert_problem, images_part, jpeg_bytes, noise_png, png_bytes
from bgremover.blobs.keys import original_key, upload_key
from bgremover.imaging.decode import ImageDecodeError, decode_image


def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height`` pixels: a decompression bomb's shape."""
    data = bytearray(png_bytes((1, 1)))
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes of fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def _zip_jpeg_polyglot() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.html", "<script>alert(1)</script>")
    return jpeg_bytes() + archive.getvalue()


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


@pytest.mark.parametrize(
    ("blob", "status", "slug"),
    [
        (_zip_jpeg_polyglot(), 415, "polyglot-file"),
        (SVG, 415, "unsupported-media-type"),
        (_png_declaring(30_000, 30_000), 413, "too-many-pixels"),
        (b"", 400, "empty-file"),
    ],
    ids=["zip-jpeg-polyglot", "svg", "bomb-30000x30000", "zero-bytes"],
)
def test_hostile_file_is_refused_before_any_job(client, services, blob, status, slug):
    files = [*images_part(png_bytes()), ("images", ("hostile.jpg", blob, "image/jpeg"))]
    body = assert_problem(client.post("/v1/group-images", files=files), status, slug)
    assert body["filename"] == "hostile.jpg"
    assert_nothing_created(services)


def test_pixel_limit_is_the_deployments_not_only_pillows(make_client, services):
    client = make_client(max_image_megapixels=1.0)
    body = assert_problem(
        client.post("/v1/remove-background", files=images_part(_png_declaring(2000, 1000))),
        413,
        "too-many-pixels",
    )
    assert body["limit"] == 1_000_000
    assert_nothing_created(services)


def _accepted_original(client, services, blob: bytes, filename: str = "photo") -> tuple[str, bytes]:
    response = client.post("/v1/remove-background", files=[("images", (filename, blob, "image/png"))])
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    (image,) = services.ledger.list_images("default", job_id)
    stored = client.get(f"/v1/jobs/{job_id}/images/{image.image_id}/original")
    assert stored.status_code == 200, stored.text
    return image.content_type, stored.content


@pytest.mark.parametrize("fmt", ["GIF", "PNG"], ids=["gif", "apng"])
def test_animation_is_accepted_and_its_first_frame_is_used(client, services, fmt):
    content_type, stored = _accepted_original(client, services, _animated(fmt))
    assert content_type == f"image/{fmt.lower()}"
    first = decode_image(stored)  # what the worker decodes: the first frame, not a refusal
    assert first.getpixel((8, 8))[:3] == (255, 0, 0)


def test_truncated_jpeg_is_a_per_image_error_in_the_job(client, services, shared_data):
    """The header is sound, so the API cannot tell; the worker's decoder names the defect for that image."""
    truncated = (shared_data / "formats" / "truncated.jpg").read_bytes()
    content_type, stored = _accepted_original(client, services, truncated)
    assert content_type == "image/jpeg" and stored == truncated
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(stored)
    assert caught.value.code == "truncated"


def test_declared_content_type_is_ignored_for_the_sniffed_one(client, services):
    content_type, _ = _accepted_original(client, services, png_bytes(), filename="looks-like.jpg")
    assert content_type == "image/png"


HOSTILE_NAMES = [
    "../../etc/passwd",
    "/etc/shadow",
    "..\\..\\boot.ini",
    "a\x00b.png",
    "c\x01\r\nd\x7f.png",
    "../",
]


@pytest.mark.parametrize(
    "name", HOSTILE_NAMES, ids=["dotdot", "absolute", "backslash", "nul", "control", "bare"]
)
def test_hostile_filenames_are_metadata_never_paths(client, services, name):
    data = base64.b64encode(png_bytes()).decode()
    response = client.post("/v1/remove-background", json={"images": [{"filename": name, "data": data}]})
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    (image,) = services.ledger.list_images("default", job_id)
    assert image.blob_key == original_key("default", job_id, "img-0001")
    assert list(services.blobs.list("")) == [upload_key("default", job_id)]
    assert image.filename and image.filename.isprintable()
    assert not any(sep in image.filename for sep in ("/", "\\", ".."))


def test_path_in_a_multipart_filename_is_cut_to_its_last_component(client, services):
    response = client.post("/v1/group-images", files=[("images", ("../../x.png", png_bytes(), "image/png"))])
    assert response.status_code == 202, response.text
    (image,) = services.ledger.list_images("default", response.json()["jobId"])
    assert image.filename == "x.png"


def test_too_many_option_parts_are_400(client, services):
    fields = {f"field{i}": "x" for i in range(60)}
    response = client.post("/v1/group-images", files=images_part(png_bytes()), data=fields)
    assert_problem(response, 400, "malformed-multipart")
    assert_nothing_created(services)


def test_too_many_file_parts_are_413(make_client, services):
    client = make_client(max_images_per_request=3)
    response = client.post("/v1/group-images", files=images_part(*[png_bytes()] * 10))
    assert_problem(response, 413, "payload-too-large")
    assert_nothing_created(services)


def _multipart(blobs: list[bytes], boundary: str) -> list[bytes]:
    parts = []
    for i, blob in enumerate(blobs):
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="{i}.png"\r\n'
        parts.append(head.encode() + b"Content-Type: image/png\r\n\r\n" + blob + b"\r\n")
    return [*parts, f"--{boundary}--\r\n".encode()]


def test_chunked_body_over_the_total_limit_is_413(make_client, services):
    """No Content-Length to refuse up front: the limit holds while the chunks arrive."""
    client = make_client(max_request_bytes=20_000)
    boundary = "hostile-boundary"
    chunks = _multipart([noise_png((40, 40)) for _ in range(8)], boundary)
    response = client.post(
        "/v1/group-images",
        content=iter(chunks),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_problem(response, 413, "payload-too-large")
    assert_nothing_created(services)
