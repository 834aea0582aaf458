"""Peak memory of a worker running one job of 20 camera-size photos: what ``WorkerMemorySize`` in
``deploy/aws/template.yaml`` must hold (Lambda bills memory, and gives CPU in proportion to it).

    .venv/bin/python bench/aws_worker_memory.py            # group-images with cut-outs, and remove-background
    .venv/bin/python bench/aws_worker_memory.py --photos 5 # a smoke run

The photos are 20 distinct ``../shared/data/sod300`` images upscaled to 4000x3000 (12 MP, the size of a
phone camera's photo) with grain, as JPEG (q 90). Each job is submitted through the API in this
process; then a fresh process (spawned, as a Lambda execution environment starts) builds the worker's
runtime, loads the models and runs the job with the job runner the worker handler uses, and reports its
peak resident set (``ru_maxrss``) after loading the models and after the job, the job's duration and
the CPU time it used (user + system, all threads: what the duration becomes on one uncontended vCPU).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, model_dir

CAMERA = (4000, 3000)


def camera_photos(count: int) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    photos = []
    for path in sorted((SHARED_DATA / "sod300" / "images").glob("*.jpg"))[:count]:
        big = np.asarray(Image.open(path).convert("RGB").resize(CAMERA, Image.Resampling.BICUBIC), np.float32)
        grainy = np.clip(big + rng.normal(0, 4, big.shape), 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(grainy).save(out, "JPEG", quality=90)
        photos.append((path.name, out.getvalue()))
    return photos


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_worker(settings_json: str, job_id: str, results: multiprocessing.Queue) -> None:
    from bgremover.settings import Settings
    from bgremover.worker.runtime import WorkerRuntime

    runtime = WorkerRuntime(Settings.model_validate_json(settings_json))
    runtime.runner.engines.warm()
    warm = _peak_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    runtime.handle(job_id)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    job = runtime.services.ledger.get_job("default", job_id)
    results.put((warm, _peak_mb(), seconds, cpu, job.status.value if job else None))
    runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from bgremover.api import create_app
    from bgremover.settings import Settings
    from bgremover.wiring import build_services

    workdir = Path(tempfile.mkdtemp(prefix="bgr-worker-memory-"))
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'ledger.db'}",
        queue_url=f"sqlite:///{workdir / 'queue.db'}",
        storage_url=f"file://{workdir / 'blobs'}",
        param_store_url=f"file://{workdir / 'params'}",
        model_dir=model_dir(),
        max_image_bytes=50 * 1024**2,
    )
    photos = camera_photos(args.photos)
    megabytes = sum(len(data) for _, data in photos) / 1e6
    print(f"{len(photos)} photos of {CAMERA[0]}x{CAMERA[1]}, {megabytes:.1f} MB of JPEG")
    services = build_services(settings)
    jobs = {}
    with TestClient(create_app(services, settings)) as client:
        files = [("images", (name, data, "image/jpeg")) for name, data in photos]
        for label, route, fields in (
            ("group-images + cut-outs", "/v1/group-images", {"remove_background": "true"}),
            ("remove-background (png)", "/v1/remove-background", {}),
        ):
            response = client.post(route, files=files, data=fields)
            assert response.status_code == 202, response.text
            jobs[label] = response.json()["jobId"]
    services.close()

    spawn = multiprocessing.get_context("spawn")
    print(f"{'job':<26} {'models loaded MB':>16} {'peak MB':>8} {'job s':>7} {'CPU s':>7}  status")
    for label, job_id in jobs.items():
        results = spawn.Queue()
        worker = spawn.Process(target=run_worker, args=(settings.model_dump_json(), job_id, results))
        worker.start()
        warm, peak, seconds, cpu, status = results.get(timeout=1800)
        worker.join()
        print(f"{label:<26} {warm:>16.0f} {peak:>8.0f} {seconds:>7.1f} {cpu:>7.1f}  {status}")


if __name__ == "__main__":
    main()
