"""The ``BlobStore`` contract, run against every adapter (the ``store`` fixture)."""

from __future__ import annotations

import io

import pytest

from backends import S3Server
from bgremover.blobs import BlobNotFoundError, BlobStore
from bgremover.blobs.s3 import S3BlobStore, S3Location


def test_put_get_round_trip_and_overwrite(store: BlobStore) -> None:
    store.put("t1/job/img.png", b"first", content_type="image/png")
    assert store.get("t1/job/img.png") == b"first"
    store.put("t1/job/img.png", b"second")
    assert store.get("t1/job/img.png") == b"second"


def test_missing_blob_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        store.get("t1/nope")
    with pytest.raises(BlobNotFoundError):
        store.open("t1/nope")
    assert not store.exists("t1/nope")


def test_put_stream_reports_size_and_open_streams_back(store: BlobStore) -> None:
    payload = bytes(range(256)) * 40_000  # 10 MB: above boto3's multipart threshold
    written = store.put_stream("t1/big.bin", io.BytesIO(payload))
    assert written == len(payload)
    assert store.exists("t1/big.bin")
    with store.open("t1/big.bin") as stream:
        assert stream.read(256) == bytes(range(256))
        assert len(stream.read()) == len(payload) - 256


def test_list_and_delete_prefix_stay_inside_the_tenant(store: BlobStore) -> None:
    for key in ["t1/a/1", "t1/a/2", "t1/b/1", "t10/a/1"]:
        store.put(key, key.encode())
    assert sorted(store.list("t1/")) == ["t1/a/1", "t1/a/2", "t1/b/1"]
    assert store.delete_prefix("t1/a/") == 2
    assert sorted(store.list("t1/")) == ["t1/b/1"]
    assert store.get("t10/a/1") == b"t10/a/1"


def test_delete_removes_that_key_only_and_a_missing_key_is_no_error(store: BlobStore) -> None:
    for key in ["t1/j/upload", "t1/j/upload.bak", "t1/j/img-0001.original"]:
        store.put(key, key.encode())
    store.delete("t1/j/upload")
    assert not store.exists("t1/j/upload")
    assert sorted(store.list("t1/")) == ["t1/j/img-0001.original", "t1/j/upload.bak"]
    store.delete("t1/j/upload")  # again: nothing there, nothing raised
    store.delete("t9/never")


def test_s3_keys_live_under_the_url_prefix(s3: S3Server) -> None:
    bucket = s3.create_bucket()
    store = S3BlobStore.from_url(f"s3://{bucket}/deploy/", endpoint_url=s3.endpoint_url)
    store.put("t1/x", b"x")
    other = S3BlobStore.from_url(f"s3://{bucket}", endpoint_url=s3.endpoint_url)
    assert list(other.list("")) == ["deploy/t1/x"]


def test_s3_presigned_url_serves_the_blob_without_credentials(s3: S3Server) -> None:
    import httpx

    store = S3BlobStore.from_url(
        f"s3://{s3.create_bucket()}/p", endpoint_url=s3.endpoint_url, presign_seconds=60
    )
    store.put("t1/cut.png", b"png-bytes", content_type="image/png")
    url = store.presigned_url("t1/cut.png")
    assert url is not None and "Signature" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"png-bytes"
    unsigned = S3BlobStore.from_url(f"s3://{s3.create_bucket()}", endpoint_url=s3.endpoint_url)
    assert unsigned.presigned_url("t1/cut.png") is None


@pytest.mark.parametrize("url", ["file:///tmp/x", "s3://", "bucket/prefix"])
def test_bad_s3_urls_are_rejected_with_the_url(url: str) -> None:
    with pytest.raises(ValueError, match="not an S3 URL"):
        S3Location.parse(url)


def test_get_many_returns_every_blob_in_the_order_asked_and_refuses_a_gap(store: BlobStore) -> None:
    keys = [f"t1/job/{n:03d}" for n in range(25)]
    for n, key in enumerate(keys):
        store.put(key, f"blob {n}".encode())
    order = keys[::-1] + keys[:3]  # any order, repeats allowed
    assert store.get_many(order) == [store.get(key) for key in order]
    assert store.get_many([]) == []
    with pytest.raises(BlobNotFoundError):
        store.get_many([*keys[:5], "t1/job/missing", *keys[5:]])
