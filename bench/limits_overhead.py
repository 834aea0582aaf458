"""What the per-tenant limits add to the submit path: the same small submits (one 32x24 PNG) through
the in-process app on the embedded backends (SQLite ledger, Huey SQLite queue, local blobs), with the
limits off, with a submit rate counted in memory, in Redis, and with the rate plus both quotas (two
ledger queries). Configurations are interleaved round by round, so load on the machine hits them
alike; the ratio to "off" is the figure to read.

    .venv/bin/python bench/limits_overhead.py [--submits 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from bgremover.api import create_app
from bgremover.settings import Settings
from bgremover.wiring import build_services

REDIS_URL = "redis://127.0.0.1:6379/0"
GENEROUS = "1000000/hour"  # never refuses: the cost of counting, not of refusing


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


CONFIGS: dict[str, dict[str, object]] = {
    "off": {},
    "rate, memory": {"rate_limit": GENEROUS},
    "rate, redis": {"rate_limit": GENEROUS, "rate_limit_storage_url": REDIS_URL},
    "rate + quotas": {"rate_limit": GENEROUS, "max_active_jobs": 10**9, "monthly_image_quota": 10**9},
}


def _client(root: Path, overrides: dict[str, object]) -> TestClient:
    settings = Settings(
        database_url=f"sqlite:///{root / 'ledger.db'}",
        queue_url=f"sqlite:///{root / 'queue.db'}",
        storage_url=f"file://{root / 'blobs'}",
        model_dir=root / "models",
        **overrides,
    )
    return TestClient(create_app(build_services(settings), settings))


def _measure(client: TestClient, submits: int, png: bytes) -> list[float]:
    tenant = f"bench-{uuid.uuid4().hex[:8]}"  # fresh counts each round
    times = []
    for _ in range(submits):
        started = time.perf_counter()
        response = client.post(
            "/v1/remove-background",
            files=[("images", ("p.png", png, "image/png"))],
            headers={"X-Tenant-ID": tenant},
        )
        times.append(time.perf_counter() - started)
        assert response.status_code == 202, response.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--submits", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    png = _png()
    samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        clients = {}
        for i, (name, overrides) in enumerate(CONFIGS.items()):
            root = Path(tmp) / str(i)
            root.mkdir()
            clients[name] = _client(root, overrides)
            _measure(clients[name], 10, png)  # warm-up
        for _ in range(args.rounds):
            for name, client in clients.items():
                samples[name] += _measure(client, args.submits, png)
    off = statistics.median(samples["off"])
    print(f"{'configuration':15} | median ms | p95 ms | median / off")
    for name, times in samples.items():
        median, p95 = statistics.median(times), statistics.quantiles(times, n=20)[-1]
        print(f"{name:15} | {median * 1e3:9.2f} | {p95 * 1e3:6.2f} | {median / off:.2f}x")


if __name__ == "__main__":
    main()
