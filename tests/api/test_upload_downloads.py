"""A submit stores all its photos as one upload blob; every original can be downloaded at once (served
from its window of the upload, no worker runs here) and still after a worker unpacked the upload."""

from __future__ import annotations

import base64
import dataclasses

from api.support import jpeg_bytes, png_bytes
from bgremover.blobs.keys import job_prefix, upload_key
from bgremover.blobs.upload import PackedImage, unpack_upload

TENANT = {"X-Tenant-ID": "acme"}
PHOTOS = [png_bytes((32, 24)), jpeg_bytes((40, 30)), png_bytes((9, 7), (0, 200, 0))]
MEDIA_TYPES = ["image/png", "image/jpeg", "image/png"]


def _submit_multipart(client, photos: list[bytes]) -> str:
    files = [("images", (f"p{i}", photo, "application/octet-stream")) for i, photo in enumerate(photos)]
    response = client.post("/v1/group-images", files=files, headers=TENANT)
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


def _assert_originals(client, job_id: str, photos: list[bytes], media_types: list[str]) -> None:
    for position, (photo, media_type) in enumerate(zip(photos, media_types, strict=True), start=1):
        response = client.get(f"/v1/jobs/{job_id}/images/img-{position:04d}/original", headers=TENANT)
        assert response.status_code == 200, response.text
        assert response.content == photo, f"img-{position:04d}"
        assert response.headers["content-type"] == media_type
        assert response.headers["cache-control"] == "private, max-age=3600"


def _unpack_as_the_worker(services, job_id: str) -> None:
    images = services.ledger.list_images("acme", job_id)
    packed = [PackedImage(image.blob_key, image.size_bytes, image.content_type) for image in images]
    unpack_upload(services.blobs, upload_key("acme", job_id), packed)


def test_a_multipart_submit_stores_one_blob_and_serves_each_original_from_it(client, services):
    job_id = _submit_multipart(client, PHOTOS)
    assert list(services.blobs.list(job_prefix("acme", job_id))) == [upload_key("acme", job_id)]
    _assert_originals(client, job_id, PHOTOS, MEDIA_TYPES)


def test_a_json_submit_stores_one_blob_and_serves_each_original_from_it(client, services):
    photos = [jpeg_bytes((12, 10)), png_bytes((5, 5))]
    images = [{"filename": f"{i}.img", "data": base64.b64encode(p).decode()} for i, p in enumerate(photos)]
    response = client.post("/v1/remove-background", json={"images": images}, headers=TENANT)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    assert list(services.blobs.list(job_prefix("acme", job_id))) == [upload_key("acme", job_id)]
    _assert_originals(client, job_id, photos, ["image/jpeg", "image/png"])


def test_originals_are_served_from_their_own_blobs_once_unpacked(client, services):
    job_id = _submit_multipart(client, PHOTOS)
    _unpack_as_the_worker(services, job_id)
    images = services.ledger.list_images("acme", job_id)
    assert sorted(services.blobs.list(job_prefix("acme", job_id))) == [image.blob_key for image in images]
    _assert_originals(client, job_id, PHOTOS, MEDIA_TYPES)


def test_an_original_missing_everywhere_is_not_found(client, services):
    job_id = _submit_multipart(client, PHOTOS[:1])
    services.blobs.delete(upload_key("acme", job_id))
    response = client.get(f"/v1/jobs/{job_id}/images/img-0001/original", headers=TENANT)
    assert response.status_code == 404
    assert "original blob" in response.json()["detail"]


class _RecordingPresigningStore:
    """The local store as a presigning one (a fake URL), recording which blobs each request touched."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str):
        method = getattr(self._inner, name)

        def recorded(key, *args, **kwargs):
            self.calls.append((name, key))
            return method(key, *args, **kwargs)

        return recorded

    def presigned_url(self, key: str) -> str:
        return f"https://store.invalid/{key}"


def test_a_presigning_store_is_looked_at_once_per_original(services, settings):
    from fastapi.testclient import TestClient

    from bgremover.api import create_app
    from bgremover.ledger.base import ImageOutcome, ImageStatus

    store = _RecordingPresigningStore(services.blobs)
    app_services = dataclasses.replace(services, blobs=store)
    with TestClient(create_app(app_services, settings), follow_redirects=False) as client:
        job_id = _submit_multipart(client, PHOTOS[:1])
        (image,) = services.ledger.list_images("acme", job_id)
        url = f"/v1/jobs/{job_id}/images/img-0001/original"

        store.calls.clear()  # not unpacked: one look, then straight to the upload (not the original again)
        response = client.get(url, headers=TENANT)
        assert (response.status_code, response.content) == (200, PHOTOS[0])
        assert store.calls == [("exists", image.blob_key), ("open", upload_key("acme", job_id))]

        _unpack_as_the_worker(services, job_id)
        store.calls.clear()  # unpacked, the image still pending: one look, then the store serves it
        response = client.get(url, headers=TENANT)
        assert response.status_code == 307 and response.headers["location"].endswith(image.blob_key)
        assert store.calls == [("exists", image.blob_key)]

        assert services.ledger.claim(job_id, "worker-1", 60) is not None
        services.ledger.record_image(job_id, "worker-1", "img-0001", ImageOutcome(status=ImageStatus.FAILED))
        store.calls.clear()  # an image with an outcome was unpacked before it: no look at all
        response = client.get(url, headers=TENANT)
        assert response.status_code == 307 and response.headers["location"].endswith(image.blob_key)
        assert store.calls == []
