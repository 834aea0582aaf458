"""``GET /v1/jobs/{id}/archive``: a finished job's outputs as one ZIP, streamed as it is written.

``zipfile`` writes to a sink that is drained after every chunk (an unseekable file, so each entry
carries a data descriptor instead of a patched header): memory holds one read chunk of one blob,
never the archive. Entries are ``cutouts/``, ``masks/`` and ``thumbnails/``, each file named
``<imageId>-<original file name>.<its format>``, and ``groups.json``, written last, which maps images
to groups, outcomes and their files in the archive.
"""

from __future__ import annotations

import io
import json
import mimetypes
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from bgremover.api.jobs import Context, Tenant, tenant_job
from bgremover.api.problems import ProblemError, documented_problems
from bgremover.api.representation import OUTPUT_KINDS
from bgremover.blobs.base import BlobNotFoundError, BlobStore
from bgremover.imaging.decode import sniff_image_type
from bgremover.ledger.base import ImageRecord, Job
from bgremover.observability.logging import get_logger

router = APIRouter()
_log = get_logger(__name__)
_CHUNK = 256 * 1024
_UNSAFE = re.compile(r"[^\w.-]+")


class _Sink(io.RawIOBase):
    """Where ``zipfile`` writes: bytes are kept only until the response takes them."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _stem(filename: str) -> str:
    """The file name a person gave, without folders or characters unsafe in a path inside a ZIP."""
    name = re.split(r"[\\/]", filename)[-1].rsplit(".", 1)[0]
    return _UNSAFE.sub("_", name).strip("._")[:80] or "image"


@dataclass(frozen=True, slots=True)
class _Archive:
    job: Job
    images: list[ImageRecord]
    blobs: BlobStore

    def stream(self) -> Iterator[bytes]:
        sink = _Sink()
        files: dict[str, dict[str, str]] = {}
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            for image in self.images:
                for kind in OUTPUT_KINDS:
                    if kind in image.outputs:
                        yield from self._entry(archive, sink, image, kind, files)
            info = self._info("groups.json")
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, json.dumps(self._groups(files), indent=2, ensure_ascii=False))
        yield sink.drain()

    def _entry(
        self,
        archive: zipfile.ZipFile,
        sink: _Sink,
        image: ImageRecord,
        kind: str,
        files: dict[str, dict[str, str]],
    ) -> Iterator[bytes]:
        try:
            blob: BinaryIO = self.blobs.open(image.outputs[kind])
        except BlobNotFoundError:
            _log.warning("archive: output blob missing", image_id=image.image_id, kind=kind)
            return
        with blob:
            head = blob.read(64)
            extension = mimetypes.guess_extension(sniff_image_type(head) or "") or ".bin"
            name = f"{kind}s/{image.image_id}-{_stem(image.filename)}{extension}"
            with archive.open(self._info(name), "w") as entry:
                entry.write(head)
                while chunk := blob.read(_CHUNK):
                    entry.write(chunk)
                    yield sink.drain()
        files.setdefault(image.image_id, {})[kind] = name
        yield sink.drain()

    def _info(self, name: str) -> zipfile.ZipInfo:
        return zipfile.ZipInfo(name, date_time=self.job.updated_at.timetuple()[:6])

    def _groups(self, files: dict[str, dict[str, str]]) -> dict[str, Any]:
        return {
            "jobId": self.job.job_id,
            "type": self.job.type.value,
            "status": self.job.status.value,
            "groups": (self.job.result or {}).get("groups", []),
            "images": [
                {
                    "imageId": image.image_id,
                    "filename": image.filename,
                    "status": image.status.value,
                    "groupId": image.group_id,
                    "error": image.error,
                    "files": files.get(image.image_id, {}),
                }
                for image in self.images
            ],
        }


@router.get(
    "/v1/jobs/{job_id}/archive",
    name="job_archive",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The job's outputs and groups.json"},
        **documented_problems(400, 401, 403, 404, 409, 429, 503),
    },
)
async def job_archive(
    ctx: Context, tenant: Tenant, job: Annotated[Job, Depends(tenant_job)]
) -> StreamingResponse:
    """A ZIP of a final job's cut-outs, masks and thumbnails, with ``groups.json``."""
    if not job.status.is_final:
        raise ProblemError(
            409, "job-not-finished", f"job is {job.status.value}: its archive exists once it is final"
        )
    images = await run_in_threadpool(ctx.services.ledger.list_images, tenant, job.job_id)
    archive = _Archive(job, images, ctx.services.blobs)
    disposition = f'attachment; filename="bg-remover-{job.job_id}.zip"'
    return StreamingResponse(
        archive.stream(), media_type="application/zip", headers={"Content-Disposition": disposition}
    )
