"""Submit latency of the asynchronous service against the synchronous "before" design, in one run.

    .venv/bin/python bench/submit_latency.py            # full matrix (several minutes)
    .venv/bin/python bench/submit_latency.py --quick    # fewer requests, for a smoke run

After: a real ``bg-remover serve`` (uvicorn + embedded worker processes, state in a temporary
directory) whose workers are kept busy by earlier jobs; clients POST ``/v1/group-images`` with 5, 20
and 50 photos from ``../shared/data/fashion_products`` (plus 20 upscaled photos, a payload over 10 MB)
at 8 and 32 concurrent clients, and the time to the ``202`` is measured.

Before: the same API app in a uvicorn process whose dispatcher runs the job in the request
(``InlineDispatcher``: decode, thumbnails, cut-outs, embeddings, grouping, then the answer), which is
the design that timed out. It is measured on fewer requests because each one costs seconds of CPU.

Prints p50/p95/p99 per configuration, the CPU the API process and the workers used meanwhile (in % of
one core: an API near 100% is CPU-bound), the load average, and the ratio of the baseline's p50/p99 to
the service's.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, SHARED_DATA, model_dir

sys.path.insert(0, str(REPO_ROOT / "tests"))  # the e2e tests' readiness wait, shared
from server_readiness import wait_until_ready

PHOTOS = SHARED_DATA / "fashion_products"
ROUTE = "/v1/group-images"
LARGE_SIDE = 2400  # upscaled photos with grain: ~0.6 MB each, so 20 make a payload over 10 MB
GRAIN_SIGMA = 4.0
LARGE_REQUEST_SHARE = 4  # a quarter of the requests for the 12 MB payload: gigabytes of uploads otherwise


@dataclass(frozen=True)
class Payload:
    label: str
    images: int
    body: bytes
    content_type: str
    large: bool = False


@dataclass(frozen=True)
class Result:
    mode: str
    payload: str
    clients: int
    latencies: list[float]
    failures: int
    running_jobs: str
    cpu: str = "-"

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _encode(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """One multipart body, encoded once, so client CPU does not blur the server's latency."""
    parts = [("images", (name, data, "image/jpeg")) for name, data in files]
    request = httpx.Request("POST", "http://bench/", files=parts)
    return request.read(), request.headers["content-type"]


def _upscaled(path: Path, seed: int) -> bytes:
    """A 5-megapixel camera-like JPEG: the photo upscaled, with sensor-like grain so that it does not
    compress like a flat illustration (~0.6 MB each)."""
    with Image.open(path) as image:
        ratio = LARGE_SIDE / max(image.size)
        size = (round(image.width * ratio), round(image.height * ratio))
        big = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = np.random.default_rng(seed).normal(0, GRAIN_SIGMA, big.shape).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def build_payloads(sizes: list[int]) -> list[Payload]:
    photos = sorted(PHOTOS.glob("*.jpg"))
    payloads = []
    for count in sizes:
        files = [(p.name, p.read_bytes()) for p in photos[:count]]
        body, content_type = _encode(files)
        payloads.append(Payload(f"{count} photos ({len(body) / 1e6:.1f} MB)", count, body, content_type))
    large = [(p.name, _upscaled(p, seed)) for seed, p in enumerate(photos[100:120])]
    body, content_type = _encode(large)
    payloads.append(Payload(f"20 large ({len(body) / 1e6:.1f} MB)", 20, body, content_type, large=True))
    return payloads


class Server:
    """A server process and every process it starts; all of them are stopped on exit."""

    def __init__(self, command: list[str], state: Path, port: int, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = (state / f"server-{port}.log").open("wb")
        self._process = subprocess.Popen(command, cwd=state, env=env, stdout=self._log, stderr=self._log)
        wait_until_ready(f"{self.url}/readyz", self._process, Path(self._log.name), timeout=180, interval=0.5)
        self._family = psutil.Process(self._process.pid).children(recursive=True)

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        self._family += psutil.Process(self._process.pid).children(recursive=True)
        self._process.send_signal(signal.SIGINT)  # serve returns in-flight jobs to the queue
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
        _, alive = psutil.wait_procs([p for p in self._family if p.is_running()], timeout=30)
        for leftover in alive:
            leftover.kill()
        self._log.close()


class CpuShare:
    """CPU used by the API process and by its worker processes over a measurement, in % of one core:
    tells whether the API was CPU-bound and how much the busy workers took meanwhile."""

    def __init__(self, api_pid: int) -> None:
        self._api = psutil.Process(api_pid)
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        api = self._api.cpu_times()
        workers = 0.0
        for child in self._api.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.Error:
                continue
            workers += times.user + times.system
        return time.perf_counter(), api.user + api.system, api.system, workers

    def report(self) -> str:
        (t0, api0, sys0, workers0), (t1, api1, sys1, workers1) = self._start, self._sample()
        wall = max(t1 - t0, 1e-9)
        share = (api1 - api0) / wall * 100
        return (
            f"api {share:.0f}% (sys {(sys1 - sys0) / wall * 100:.0f}%), "
            f"workers {max(0.0, workers1 - workers0) / wall * 100:.0f}%"
        )


def running_jobs(url: str) -> str:
    """``running/queued`` job counts from the service's own metrics."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    counts = {}
    for line in text.splitlines():
        for status in ("running", "queued"):
            if line.startswith(f'bgr_jobs_current{{status="{status}"}}'):
                counts[status] = int(float(line.split()[-1]))
    return f"{counts.get('running', 0)}/{counts.get('queued', 0)}"


async def measure(url: str, payload: Payload, clients: int, requests: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    pending = iter(range(requests))
    headers = {"Content-Type": payload.content_type}

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for _ in pending:
            started = time.perf_counter()
            response = await client.post(f"{url}{ROUTE}", content=payload.body, headers=headers)
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 202

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=900) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    return latencies, failures


def run_matrix(
    mode: str,
    server: Server,
    payloads: list[Payload],
    clients: list[int],
    requests_for: dict[int, int],
) -> list[Result]:
    url = server.url
    results = []
    for payload in payloads:
        for count in clients:
            if mode == "sync" and count not in requests_for:
                continue
            before = running_jobs(url) if mode == "async" else "-"
            fewer = LARGE_REQUEST_SHARE if payload.large else 1
            requests = max(count, requests_for[count] // fewer)  # every client sends at least once
            cpu = CpuShare(server.pid)
            latencies, failures = asyncio.run(measure(url, payload, count, requests))
            used = cpu.report()
            during = f"{before} -> {running_jobs(url)}" if mode == "async" else "-"
            results.append(Result(mode, payload.label, count, latencies, failures, during, used))
            print(_row(results[-1]), flush=True)
    return results


def _row(result: Result) -> str:
    p50, p95, p99 = (result.quantile(q) * 1e3 for q in (0.5, 0.95, 0.99))
    return (
        f"{result.mode:5} | {result.payload:22} | {result.clients:3} clients | n={len(result.latencies):4} "
        f"| p50 {p50:9.1f} ms | p95 {p95:9.1f} ms | p99 {p99:9.1f} ms | non-202 {result.failures} "
        f"| running/queued {result.running_jobs} | cpu {result.cpu}"
    )


def keep_workers_busy(url: str, jobs: int) -> None:
    """Jobs submitted before measuring, so the workers are busy with inference throughout."""
    photos = sorted(PHOTOS.glob("*.jpg"))[200:250]
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    for _ in range(jobs):
        response = httpx.post(f"{url}{ROUTE}", files=files, data={"remove_background": "true"}, timeout=60)
        response.raise_for_status()
    deadline = time.monotonic() + 60
    while running_jobs(url).startswith("0/") and time.monotonic() < deadline:
        time.sleep(0.5)


def serve_env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGR_")}
    return {**env, "BGR_MODEL_DIR": str(model_dir().resolve()), "BGR_STAGE": "bench", **extra}


def serve_baseline(port: int) -> None:
    """The "before" design in this process: the API app whose hand-off runs the job in the request."""
    import uvicorn

    from bgremover.api import create_app
    from bgremover.ledger.sql import SqlJobLedger
    from bgremover.settings import Settings
    from bgremover.wiring import Services, build_services
    from bgremover.worker.runtime import WorkerRuntime

    settings = Settings(enqueue_timeout_s=3600.0)
    SqlJobLedger.from_url(settings.database_url, migrate=True).close()
    runtime = WorkerRuntime(settings)
    runtime.start()
    real = build_services(settings, migrate=False)

    class InlineDispatcher:
        """The synchronous baseline: "enqueue" does the whole job before the request can answer."""

        def enqueue(self, job_id: str, *, timeout: float) -> None:
            runtime.handle(job_id)

        def depth(self) -> int:
            return 0

        def ping(self) -> None:
            return None

    services = Services(ledger=real.ledger, blobs=real.blobs, dispatcher=InlineDispatcher())  # type: ignore[arg-type]
    uvicorn.run(create_app(services, settings), host="127.0.0.1", port=port, log_level="warning")


def summary(after: list[Result], before: list[Result]) -> None:
    print("\nbaseline / service (same payload and clients):")
    service = {(r.payload, r.clients): r for r in after}
    for sync in before:
        fast = service[(sync.payload, sync.clients)]
        p50 = sync.quantile(0.5) / fast.quantile(0.5)
        p99 = sync.quantile(0.99) / fast.quantile(0.99)
        print(f"  {sync.payload:22} {sync.clients:3} clients: p50 x{p50:8.0f}   p99 x{p99:8.0f}")
    target = next((r for r in after if r.payload.startswith("20 photos") and r.clients == 8), None)
    if target:
        p99 = target.quantile(0.99)
        verdict = "met" if p99 < 0.1 else f"NOT met (p99 {p99 * 1e3:.0f} ms, {p99 / 0.1:.1f}x the target)"
        print(f"\ntarget p99 < 100 ms for 20 photos at 8 clients, workers busy: {verdict}")
    print(f"load average at the end: {_load()}")


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    parser.add_argument("--workers", type=int, default=1, help="embedded workers of the service")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return
    sizes = [5, 20] if args.quick else [5, 20, 50]
    payloads = build_payloads(sizes)
    async_requests = {8: 16, 32: 32} if args.quick else {8: 160, 32: 320}
    sync_requests = {8: 8} if args.quick else {8: 16}
    with tempfile.TemporaryDirectory(prefix="bgr-bench-") as tmp:
        after_state, before_state = Path(tmp, "after"), Path(tmp, "before")
        after_state.mkdir()
        before_state.mkdir()
        command = [str(Path(sys.executable).parent / "bg-remover"), "serve", "--port", "8791"]
        service = Server(
            [*command, "--workers", str(args.workers)], after_state, 8791, serve_env(after_state)
        )
        try:
            keep_workers_busy(service.url, jobs=2)
            print(f"service: bg-remover serve --workers {args.workers}; busy jobs submitted first")
            print(f"machine: {os.cpu_count()} CPUs, load average {_load()} (other processes share them)")
            after = run_matrix("async", service, payloads, [8, 32], async_requests)
            print(f"load average after the service's runs: {_load()}")
        finally:
            service.stop()
        baseline_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", "8792"]
        baseline = Server(baseline_cmd, before_state, 8792, serve_env(before_state))
        try:
            print("baseline: the same app, the job done inside the request")
            small = [p for p in payloads if p.images <= 20 and not p.large]
            before = run_matrix("sync", baseline, small, [8], sync_requests)
        finally:
            baseline.stop()
        summary(after, before)  # before the state directories (many thousand blobs) are deleted


if __name__ == "__main__":
    main()
