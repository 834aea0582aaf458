"""``direct=True`` of ``bgremover.client`` against a real ``bg-remover serve``: the photos go through
upload slots (``POST /v1/uploads``, a ``PUT`` each to the API, which takes them on the local disk),
then the job is submitted by reference; the same typed results and the same one error type."""

from __future__ import annotations

import io
from pathlib import Path

import anyio
import boto3
import httpx
import pytest
from e2e_server import Server, running_server
from PIL import Image

from backends import S3Server
from bgremover.client import ApiError, AsyncClient, Client, PollPolicy

FAST_POLL = PollPolicy(initial_s=0.2, max_s=1.0)


def test_group_images_through_upload_slots(
    server: Server, photos: dict[str, bytes], shared_data: Path
) -> None:
    path = shared_data / "fashion_products" / "ukbench00000.jpg"
    files = [path, ("again.jpg", photos["a"]), io.BytesIO(photos["b"]), ("broken.jpg", photos["truncated"])]
    requests: list[tuple[str, str, int]] = []
    http = httpx.Client(
        timeout=30,
        event_hooks={"response": [lambda r: requests.append((r.request.method, r.url.path, r.status_code))]},
    )
    with Client(server.base_url, tenant="direct", poll=FAST_POLL, http=http) as client:
        submitted = client.group_images(files, direct=True, threshold=0.3)
        job = client.wait(submitted, timeout=180)
        by_name = {image.filename: image for image in job.images}
        assert client.download(job, by_name["again.jpg"].image_id, "original") == photos["a"]
    assert [(method, status) for method, _, status in requests[:6]] == [
        ("POST", 201), ("PUT", 204), ("PUT", 204), ("PUT", 204), ("PUT", 204), ("POST", 202)
    ]  # fmt: skip
    assert requests[0][1] == "/v1/uploads" and requests[5][1] == "/v1/group-images"
    assert job.status == "succeeded" and job.tenant_id == "direct" and job.type == "group-images"
    assert set(by_name) == {"ukbench00000.jpg", "again.jpg", "image-0003", "broken.jpg"}
    assert by_name["broken.jpg"].status == "failed" and by_name["broken.jpg"].group_id is None
    assert by_name["ukbench00000.jpg"].group_id == by_name["again.jpg"].group_id is not None
    assert by_name["image-0003"].group_id not in (None, by_name["again.jpg"].group_id)


def test_the_async_client_removes_backgrounds_through_upload_slots(
    server: Server, photos: dict[str, bytes]
) -> None:
    async def main() -> tuple[str, bytes]:
        async with AsyncClient(server.base_url, tenant="direct-async", poll=FAST_POLL) as client:
            submitted = await client.remove_background([("shoe.jpg", photos["c"])], direct=True, format="png")
            job = await client.wait(submitted, timeout=180)
            return job.status, await client.download(job, job.images[0].image_id, "cutout")

    status, cutout = anyio.run(main)
    image = Image.open(io.BytesIO(cutout))
    assert status == "succeeded" and image.format == "PNG" and image.mode == "RGBA"


def test_a_photo_that_is_no_image_is_refused_at_the_submit_by_reference(server: Server) -> None:
    with Client(server.base_url) as client:
        with pytest.raises(ApiError) as not_an_image:
            client.group_images([("notes.jpg", b"these bytes are no image at all")], direct=True)
        with pytest.raises(ApiError) as bad_option:
            client.remove_background([("x.jpg", b"\xff\xd8\xff" + b"\0" * 64)], direct=True, format="gif")
    assert not_an_image.value.status == 415 and not_an_image.value.detail
    assert bad_option.value.status == 422 and bad_option.value.slug == "invalid-options"


def test_on_s3_the_photos_go_to_the_bucket_by_presigned_put(
    tmp_path: Path, model_dir: Path, s3: S3Server, photos: dict[str, bytes]
) -> None:
    """A serve storing on S3 (moto's server): the slots are presigned PUTs to the bucket, which the
    client sends with the slot's headers only; the API never sees a photo byte."""
    bucket = s3.create_bucket()
    env = {"BGR_STORAGE_URL": f"s3://{bucket}/deploy", "BGR_S3_ENDPOINT_URL": s3.endpoint_url}
    (tmp_path / "var").mkdir()
    puts: list[tuple[str, int]] = []
    http = httpx.Client(
        timeout=30,
        event_hooks={
            "response": [lambda r: r.request.method == "PUT" and puts.append((r.url.host, r.url.port))]
        },
    )
    with (
        running_server(tmp_path, model_dir, workers=0, probe="/healthz", **env) as server,
        Client(server.base_url, tenant="direct-s3", http=http) as client,
    ):
        job = client.group_images([("a.jpg", photos["a"]), ("b.jpg", photos["b"])], direct=True)
        queued = client.get_job(job)
    moto = httpx.URL(s3.endpoint_url)
    assert puts == [(moto.host, moto.port)] * 2
    assert queued.status == "queued" and queued.progress is not None and queued.progress.total == 2
    stored = boto3.client("s3", endpoint_url=s3.endpoint_url)
    prefix = "deploy/direct-s3/uploads/"
    keys = sorted(item["Key"] for item in stored.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"])
    assert [stored.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys] == [
        photos["a"],
        photos["b"],
    ]
