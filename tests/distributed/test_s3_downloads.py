"""Uploads land in S3 under the tenant's prefix; downloads go through the API, or, with
``BGR_S3_PRESIGN_SECONDS`` set and the original unpacked, redirect to a presigned URL that serves the
same bytes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from backends import S3Server
from bgremover.api import create_app
from bgremover.blobs.keys import upload_key
from bgremover.blobs.upload import PackedImage, unpack_upload
from bgremover.settings import Settings
from bgremover.wiring import build_services

TENANT = "acme"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(params=[0, 120], ids=["through-api", "presigned"])
def client(request: pytest.FixtureRequest, s3: S3Server, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        storage_url=f"s3://{s3.create_bucket()}/deploy",
        s3_endpoint_url=s3.endpoint_url,
        s3_presign_seconds=request.param,
    )
    services = build_services(settings)
    with TestClient(create_app(services, settings), follow_redirects=False) as test_client:
        yield test_client
    services.close()


def _download_original(client: TestClient, job_id: str) -> tuple[bool, httpx.Response]:
    """(redirected to the store, the final response)."""
    response = client.get(f"/v1/jobs/{job_id}/images/img-0001/original", headers={"X-Tenant-ID": TENANT})
    if response.status_code != 307:
        return False, response
    url = response.headers["location"]
    assert "X-Amz-Signature" in url or "Signature" in url
    return True, httpx.get(url)


def test_original_is_stored_under_the_tenant_and_downloadable(client: TestClient) -> None:
    """Before the worker unpacked the upload the API serves the original from it (there is no object
    to presign yet); afterwards a presigning store redirects to the original's own object."""
    data = png()
    response = client.post(
        "/v1/remove-background",
        files=[("images", ("a.png", data, "image/png"))],
        headers={"X-Tenant-ID": TENANT},
    )
    assert response.status_code == 202
    job_id = response.json()["jobId"]
    services = client.app.state.api.services  # type: ignore[attr-defined]
    assert list(services.blobs.list("")) == [upload_key(TENANT, job_id)]

    redirected, download = _download_original(client, job_id)
    assert not redirected
    assert (download.status_code, download.content) == (200, data)

    (image,) = services.ledger.list_images(TENANT, job_id)
    packed = [PackedImage(image.blob_key, image.size_bytes, image.content_type)]
    unpack_upload(services.blobs, upload_key(TENANT, job_id), packed)
    redirected, download = _download_original(client, job_id)
    assert redirected is (services.blobs.presigned_url(image.blob_key) is not None)
    assert (download.status_code, download.content) == (200, data)
    assert download.headers["content-type"] == "image/png"  # stored with the original, served by S3 too

    other = client.get(f"/v1/jobs/{job_id}/images/img-0001/original", headers={"X-Tenant-ID": "other"})
    assert other.status_code == 404
