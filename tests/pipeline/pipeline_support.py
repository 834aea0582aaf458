"""Runs a worker's pipeline in-process on the real adapters (a SQLite or DynamoDB ledger, local blobs,
file-tree parameters) and the real models; jobs are created the way the API creates them."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from bgremover.blobs.keys import original_key, upload_key
from bgremover.blobs.local import LocalBlobStore
from bgremover.blobs.upload import put_upload
from bgremover.ledger import JobType, NewImage, NewJob
from bgremover.ledger.base import JobLedger
from bgremover.params import TenantConfigCache, config_key
from bgremover.params.local import LocalParameterStore
from bgremover.pipeline import JobRunner
from bgremover.pipeline.engines import Engines
from bgremover.pipeline.runner import RunnerLimits
from bgremover.queue.base import Dispatcher


def product(shared_data: Path, n: int) -> bytes:
    """The n-th product photo of the evaluation set (``ukbench<n>.jpg``)."""
    return (shared_data / "fashion_products" / f"ukbench{n:05d}.jpg").read_bytes()


@dataclass
class Bench:
    ledger: JobLedger
    blobs: LocalBlobStore
    params_root: Path
    engines: Engines
    ledger_url: str = ""  # where ``ledger`` is: another runner opens its own connections there

    def submit(
        self, job_type: JobType, files: list[tuple[str, bytes]], tenant: str = "acme", **options: object
    ) -> str:
        """Like the API: every photo in one upload blob, each image row where its original will be."""
        job_id = uuid.uuid4().hex
        put_upload(self.blobs, upload_key(tenant, job_id), [io.BytesIO(data) for _, data in files])
        images = []
        for position, (name, data) in enumerate(files, start=1):
            image_id = f"img-{position:04d}"
            key = original_key(tenant, job_id, image_id)
            images.append(NewImage(image_id, name, key, "image/jpeg", len(data)))
        new = NewJob(job_id, tenant, job_type, images, options=dict(options), request_id="req-test")
        self.ledger.create_job(new)
        return job_id

    def configure(self, tenant: str, config: dict[str, object] | str) -> None:
        path = self.params_root / config_key("dev", tenant).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config if isinstance(config, str) else json.dumps(config))

    def runner(
        self, *, ledger: JobLedger | None = None, dispatcher: Dispatcher | None = None, **limits: float
    ) -> JobRunner:
        """A worker's runner; ``ledger``: its own (another process's connections), default the bench's."""
        configs = TenantConfigCache(LocalParameterStore(self.params_root), stage="dev", max_age_s=0)
        return JobRunner(
            ledger=ledger or self.ledger,
            blobs=self.blobs,
            configs=configs,
            engines=self.engines,
            owner=f"test-{uuid.uuid4().hex[:6]}",
            limits=RunnerLimits(**limits),  # type: ignore[arg-type]
            dispatcher=dispatcher,
        )
