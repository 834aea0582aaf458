"""The job's ``roi``, each image's own ROI, and ``subject`` through the real pipeline."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from pipeline_support import Bench, product

from bgremover.ledger import ImageStatus, JobStatus, JobType


def _mask(bench: Bench, outputs: dict[str, str]) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(bench.blobs.get(outputs["mask"]))))


def test_job_and_image_rois_bound_the_foreground(bench: Bench, shared_data: Path) -> None:
    photo = product(shared_data, 0)  # 218x255, a product in the middle of a white background
    files = [("job-roi.jpg", photo), ("own-roi.jpg", photo), ("outside.jpg", photo)]
    job_id = bench.submit(
        JobType.REMOVE_BACKGROUND,
        files,
        roi="0% 0% 50% 100%",
        subject="largest",
        image_rois={"img-0002": "100px 50px 200px 200px", "img-0003": "300px 0px 400px 10px"},
    )
    bench.runner()(job_id)
    job = bench.ledger.get_job("acme", job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert job.result == {"succeeded": 2, "failed": 1}
    left_half, own, outside = bench.ledger.list_images("acme", job_id)

    mask = _mask(bench, left_half.outputs)
    assert not mask[:, 109:].any() and mask[:, :109].max() == 255
    mask = _mask(bench, own.outputs)
    inside = np.zeros_like(mask, bool)
    inside[50:200, 100:200] = True
    assert not mask[~inside].any() and mask[inside].max() > 127

    assert outside.status is ImageStatus.FAILED
    assert outside.error["status"] == 422 and outside.error["type"].endswith("roi-outside-image")
    assert "300px 0px 400px 10px" in outside.error["detail"] and outside.error["stage"] == "cutouts"
