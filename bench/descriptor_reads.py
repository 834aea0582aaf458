"""How long a big job's final step takes to read its photos' grouping descriptors back: one read per
photo in sequence (``load_descriptor`` in a loop, as before) against the store's ``get_many``
(``load_descriptors``: ``PARALLEL_GETS`` at once on S3, in sequence on the local disk), in one run.

moto answers on localhost in about a millisecond, and serves one request at a time in Python; real S3
takes tens of ms per GET and serves them in parallel, so the S3 ratio here is a floor of what the
threads buy there. ``--latency-ms`` adds such a round trip before each GET (``DelayedS3``, moto
behind it) to show the case the threads are for.

    PYTHONPATH=src .venv/bin/python bench/descriptor_reads.py --photos 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from _backends import s3_server
from bgremover.blobs.base import BlobStore
from bgremover.blobs.local import LocalBlobStore
from bgremover.blobs.s3 import PARALLEL_GETS, S3BlobStore
from bgremover.grouping.verify import Keypoints
from bgremover.pipeline.descriptors import load_descriptor, load_descriptors, store_descriptor


class DelayedS3(S3BlobStore):
    """The real S3 store whose every ``get`` first waits ``latency_s``: a network round trip in front
    of moto on localhost (a benchmark's stand-in for distance, nothing else differs)."""

    latency_s = 0.0

    def get(self, key: str) -> bytes:
        time.sleep(self.latency_s)
        return super().get(key)


def _store_photos(store: BlobStore, photos: int) -> list[str]:
    """Descriptors the size the engine writes (1,304 floats, 500 SIFT keypoints: about 26 KB each)."""
    rng = np.random.default_rng(0)
    keys = []
    for n in range(photos):
        points = Keypoints(rng.random((500, 2), dtype=np.float32), rng.integers(0, 256, (500, 128), np.uint8))
        row = rng.standard_normal(1304).astype(np.float32)
        keys.append(store_descriptor(store, f"acme/job/originals/{n:05d}.jpg", row, points))
    return keys


def _median_s(read: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def _stores(root: Path, latency_ms: float) -> Iterator[list[tuple[str, BlobStore]]]:
    with s3_server() as s3:
        bucket = s3.create_bucket()
        s3_store = S3BlobStore.from_url(f"s3://{bucket}/bench", endpoint_url=s3.endpoint_url)
        stores: list[tuple[str, BlobStore]] = [("local disk", LocalBlobStore(root)), ("S3 (moto)", s3_store)]
        if latency_ms > 0:
            delayed = DelayedS3.from_url(f"s3://{bucket}/bench", endpoint_url=s3.endpoint_url)
            delayed.latency_s = latency_ms / 1000
            stores.append((f"S3 (moto) + {latency_ms:g} ms per GET", delayed))
        yield stores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="0 leaves the delayed store out")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    print(f"{args.photos} descriptors, median of {args.repeats}; S3 reads {PARALLEL_GETS} at once")
    with tempfile.TemporaryDirectory() as root, _stores(Path(root), args.latency_ms) as stores:
        keys: list[str] = []
        for name, store in stores:
            if not name.startswith("S3 (moto) +"):  # the delayed store shares the plain S3 one's blobs
                keys = _store_photos(store, args.photos)
            _compare(name, store, keys, args.repeats)


def _compare(name: str, store: BlobStore, keys: list[str], repeats: int) -> None:
    one_by_one = _median_s(lambda: [load_descriptor(store, key) for key in keys], repeats)
    at_once = _median_s(lambda: load_descriptors(store, keys), repeats)
    print(
        f"{name:32} one by one {one_by_one:7.2f} s   get_many {at_once:6.2f} s   {one_by_one / at_once:5.1f}x"
    )


if __name__ == "__main__":
    main()
