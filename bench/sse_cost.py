"""What open job event streams cost one API process, in one run.

    .venv/bin/python bench/sse_cost.py                  # 200 streams, 60 submits per phase
    .venv/bin/python bench/sse_cost.py --streams 50 --submits 20   # a smoke run

A real ``bg-remover serve`` (this checkout, SQLite ledger, one embedded worker) is given a backlog of
one-photo jobs, so the worker runs jobs throughout. Then, twice over the same window length, without
and with STREAMS open ``GET /v1/jobs/{id}/events`` streams (one per backlog job: the shared poller's
worst case, every stream on a job of its own), it measures: the API process's CPU (% of one core), the
poller's ledger reads per second (``bgr_event_poller_reads_total``: on the SQL ledger one read is two
statements, the jobs and their stages, for all followed jobs at once), and the p50/p99 of one-photo
submits sent by 4 clients meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, SHARED_DATA
from submit_latency import CpuShare, Server, serve_env

PHOTO = sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))[0]
PORT = 8793
READS = "bgr_event_poller_reads_total"


def submit_one(client: httpx.Client) -> str:
    files = [("images", (PHOTO.name, PHOTO.read_bytes(), "image/jpeg"))]
    response = client.post("/v1/remove-background", files=files)
    response.raise_for_status()
    return response.json()["jobId"]


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.split()[-1])
    return 0.0


async def submits(url: str, count: int, seconds: float, clients: int = 4) -> list[float]:
    """``count`` one-photo submits spread evenly over about ``seconds`` by ``clients`` clients."""
    body = httpx.Request("POST", url, files=[("images", (PHOTO.name, PHOTO.read_bytes(), "image/jpeg"))])
    content, headers = body.read(), {"Content-Type": body.headers["content-type"]}
    latencies: list[float] = []
    pending = iter(range(count))

    async def loop(client: httpx.AsyncClient) -> None:
        for _ in pending:
            started = time.perf_counter()
            response = await client.post("/v1/remove-background", content=content, headers=headers)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            await asyncio.sleep(seconds * clients / count)  # a steady trickle over the window

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await asyncio.gather(*(loop(client) for _ in range(clients)))
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def phase(label: str, server: Server, submit_count: int, seconds: float) -> None:
    reads = metric(server.url, READS)
    cpu = CpuShare(server.pid)
    started = time.perf_counter()
    latencies = await submits(server.url, submit_count, seconds)
    elapsed = time.perf_counter() - started
    used = cpu.report()
    rate = (metric(server.url, READS) - reads) / elapsed
    p50, p99 = (quantile(latencies, q) * 1e3 for q in (0.5, 0.99))
    print(
        f"{label:16} | {elapsed:5.1f} s | cpu {used} | poller ledger reads {rate:5.1f}/s "
        f"| submit p50 {p50:6.1f} ms p99 {p99:6.1f} ms",
        flush=True,
    )


async def with_streams(server: Server, job_ids: list[str], submit_count: int, seconds: float) -> None:
    opened = asyncio.Event()
    first_events = 0

    async def follow(client: httpx.AsyncClient, job_id: str) -> None:
        nonlocal first_events
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            counted = False
            async for line in response.aiter_lines():
                if line.startswith("event:") and not counted:
                    counted, first_events = True, first_events + 1
                    if first_events == len(job_ids):
                        opened.set()

    limits = httpx.Limits(max_connections=len(job_ids) + 10)
    async with httpx.AsyncClient(base_url=server.url, timeout=None, limits=limits) as client:
        tasks = [asyncio.create_task(follow(client, job_id)) for job_id in job_ids]
        await asyncio.wait_for(opened.wait(), timeout=120)
        await phase(f"{len(job_ids)} streams", server, submit_count, seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--submits", type=int, default=60, help="submits measured per phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bgr-sse-") as state:
        env = serve_env(Path(state), PYTHONPATH=str(REPO_ROOT / "src"))
        command = [sys.executable, "-c", "from bgremover.cli import main; main()", "serve"]
        server = Server([*command, "--port", str(PORT), "--workers", "1"], Path(state), PORT, env)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                job_ids = [submit_one(client) for _ in range(args.streams)]
            print(
                f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; one API process, "
                f"1 worker, {args.streams} one-photo jobs queued first, poll interval 1 s"
            )
            asyncio.run(phase("no streams", server, args.submits, args.seconds))
            asyncio.run(with_streams(server, job_ids, args.submits, args.seconds))
            asyncio.run(phase("no streams again", server, args.submits, args.seconds))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
