"""The reader that stores a submit's photos as one upload blob."""

from __future__ import annotations

import io
import tempfile

from bgremover.blobs.upload import ConcatenatedReader


def test_reads_are_full_across_file_boundaries_and_short_only_at_the_end() -> None:
    """S3's multipart upload sends each read as a part: a short one before the end would be refused."""
    files = [io.BytesIO(b"abc"), io.BytesIO(b""), io.BytesIO(b"defgh"), io.BytesIO(b"ij")]
    reader = ConcatenatedReader(files)
    assert [reader.read(4), reader.read(4), reader.read(4), reader.read(4)] == [b"abcd", b"efgh", b"ij", b""]


def test_each_file_is_read_from_its_start_and_left_open() -> None:
    memory = io.BytesIO(b"in memory")
    memory.read()  # hashing the request leaves the files at their end
    with tempfile.SpooledTemporaryFile(max_size=4) as spooled:  # rolled over to disk, as a large part is
        spooled.write(b"on disk")
        assert ConcatenatedReader([memory, spooled]).read() == b"in memoryon disk"
        assert not memory.closed and not spooled.closed
