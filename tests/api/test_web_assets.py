"""The page and the API docs are served from the package: nothing they load comes from another host."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime

from bgremover.api.archive import _Archive
from bgremover.blobs.local import LocalBlobStore
from bgremover.ledger.base import ImageRecord, ImageStatus, Job, JobStatus, JobType

_SOURCES = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def _local_assets(client, html: str) -> list[str]:
    urls = _SOURCES.findall(html)
    assert urls
    assert not [url for url in urls if re.match(r"^(https?:)?//", url)], urls
    return [url for url in urls if url.endswith((".js", ".css"))]


def test_the_page_and_its_assets_are_served_from_the_package(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in _local_assets(client, page.text):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/ui/nope.js").status_code == 404
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_docs_and_redoc_load_their_scripts_from_this_server(client) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200, path
        assets = _local_assets(client, page.text)
        assert assets, path
        for asset in assets:
            assert client.get(asset).status_code == 200, asset


def test_the_archive_is_streamed_in_pieces_no_larger_than_a_read(tmp_path) -> None:
    """A 3 MiB output reaches the client as many chunks of about one read (256 KiB), never whole."""
    blobs = LocalBlobStore.from_url(f"file://{tmp_path}")
    big = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * (3 * 4096)
    blobs.put("t/j/img-0001.cutout", big)
    now = datetime.now(UTC)
    job = Job("j", "t", JobType.REMOVE_BACKGROUND, JobStatus.SUCCEEDED, None, 1, 1, {}, {}, now, now)
    image = ImageRecord(
        "img-0001",
        "j",
        "a.png",
        "t/j/img-0001",
        "image/png",
        1,
        ImageStatus.SUCCEEDED,
        outputs={"cutout": "t/j/img-0001.cutout"},
    )
    chunks = list(_Archive(job, [image], blobs).stream())
    assert len(chunks) >= 12
    assert max(len(chunk) for chunk in chunks) < 300 * 1024
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.read("cutouts/img-0001-a.png") == big
        assert archive.namelist() == ["cutouts/img-0001-a.png", "groups.json"]
