"""The local-disk blob store and the storage-URL factory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bgremover.blobs import BlobNotFoundError
from bgremover.blobs.factory import blob_store_from_url
from bgremover.blobs.local import LocalBlobStore


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_round_trip_overwrite_and_stream(store: LocalBlobStore) -> None:
    store.put("t1/job/a.png", b"first")
    store.put("t1/job/a.png", b"second")
    assert store.get("t1/job/a.png") == b"second"
    payload = bytes(range(256)) * 20_000
    assert store.put_stream("t1/job/big", io.BytesIO(payload)) == len(payload)
    with store.open("t1/job/big") as stream:
        assert stream.read() == payload


def test_missing_blob_raises_not_found(store: LocalBlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        store.get("t1/missing")
    with pytest.raises(BlobNotFoundError):
        store.open("t1")  # a folder is not a blob
    assert not store.exists("t1/missing")


def test_a_failed_stream_leaves_no_blob_and_no_temporary_file(store: LocalBlobStore) -> None:
    class Broken(io.RawIOBase):
        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        store.put_stream("t1/job/upload", Broken())  # type: ignore[arg-type]
    assert not store.exists("t1/job/upload")
    assert [p.name for p in (store.root / "t1" / "job").iterdir()] == []


def test_list_and_delete_prefix_stay_inside_the_tenant(store: LocalBlobStore) -> None:
    for key in ["t1/a/1", "t1/a/2", "t1/b/1", "t10/a/1"]:
        store.put(key, key.encode())
    assert sorted(store.list("t1/")) == ["t1/a/1", "t1/a/2", "t1/b/1"]
    assert sorted(store.list("t1")) == ["t1/a/1", "t1/a/2", "t1/b/1", "t10/a/1"]
    assert store.delete_prefix("t1/a/") == 2
    assert sorted(store.list("t1/")) == ["t1/b/1"]
    assert store.get("t10/a/1") == b"t10/a/1"


@pytest.mark.parametrize("key", ["", "/abs", "t1/../t2/x", "t1//x", "t1/./x"])
def test_keys_cannot_escape_the_root(store: LocalBlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put(key, b"x")


def test_factory_builds_a_local_store_from_relative_and_absolute_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = blob_store_from_url("file://./var/blobs")
    assert isinstance(relative, LocalBlobStore) and relative.root == tmp_path / "var" / "blobs"
    absolute = blob_store_from_url(f"file://{tmp_path}/abs")
    assert isinstance(absolute, LocalBlobStore) and absolute.root == tmp_path / "abs"


def test_factory_rejects_unknown_schemes() -> None:
    with pytest.raises(ValueError, match="unsupported storage URL"):
        blob_store_from_url("ftp://host/x")
