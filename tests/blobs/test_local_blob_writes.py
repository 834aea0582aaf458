"""How the local store writes: private files, folders made on demand, nothing left behind on failure."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from bgremover.blobs.local import LocalBlobStore


def test_blobs_are_private_and_folders_are_made_on_demand(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    for n in range(3):
        store.put_stream(f"acme/jobs/j1/images/img-{n}/original", io.BytesIO(b"photo %d" % n))
    store.put("acme/jobs/j1/images/img-0/thumbnail", b"thumb")  # beside the original, folder exists
    path = store.root / "acme/jobs/j1/images/img-0/original"
    assert path.read_bytes() == b"photo 0"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["original", "thumbnail"]


def test_a_large_stream_is_written_whole(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    payload = bytes(range(256)) * 12_000  # ~3 MB: several chunks
    assert store.put_stream("t/big", io.BytesIO(payload)) == len(payload)
    assert store.get("t/big") == payload


def test_a_rename_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (store.root / "t" / "taken").mkdir(parents=True)  # a folder where the blob should go
    with pytest.raises(OSError):
        store.put("t/taken", b"x")
    assert [p.name for p in (store.root / "t").iterdir()] == ["taken"]
