"""Submit latency through ``bgremover.aws.api.handler``, the Lambda entry point, against the original
AWS deployment (a submit took 45-60 s before it was made asynchronous; the target is under 2 s).

    .venv/bin/python bench/aws_submit_latency.py             # 1, 20, 100 photos; 30 x 2 MB by reference
    .venv/bin/python bench/aws_submit_latency.py --repeats 5 # a smoke run

One process plays one warm Lambda execution environment: the ``BGR_*`` environment is set, the handler
module is imported (the init phase, timed apart as the cold start), then each submit is an API Gateway
HTTP API event (payload format 2.0, the multipart body base64-encoded, as API Gateway sends it) handed
to ``handler`` and timed until it returns the ``202``. Photos are ``../shared/data/fashion_products``
(about 15 KB each: 100 of them stay under Lambda's 6 MB request limit). The direct-upload rows time the
submit by reference only (``{"uploads": [...]}``), the photos having been PUT to their slots first; the
30 x 2 MB row is a batch that no Lambda request could carry.

Backends: the SQLite ledger, the SQLite queue (no worker consumes it) and blobs on local disk, in a
temporary directory: this measures the handler and the application, not DynamoDB, S3 or Lambda's
invoke, which a deployed stack adds (see README "Deploy on AWS").
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, SHARED_DATA

sys.path.insert(0, str(REPO_ROOT / "tests" / "aws"))  # events built as API Gateway builds them, shared
sys.path.insert(0, str(REPO_ROOT / "tests"))
from apigw_events import http_api_event, json_event, lambda_context, multipart_event

ORIGINAL_S = (45.0, 60.0)  # the original deployment's submit, before (from the issue)
TARGET_S = 2.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def photos(count: int) -> list[tuple[str, bytes]]:
    paths = sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))[:count]
    return [(path.name, path.read_bytes()) for path in paths]


def big_photos(count: int, size: int) -> list[tuple[str, bytes]]:
    from api.support import noise_png

    side = int((size / 3) ** 0.5)
    return [(f"big-{i}.png", noise_png((side, side))) for i in range(count)]


def timed(handler, event) -> tuple[float, dict]:
    started = time.perf_counter()
    response = handler(event, lambda_context())
    return time.perf_counter() - started, response


def by_reference_event(handler, files: list[tuple[str, bytes]]) -> dict:
    """Slots asked for and filled through the handler, then the submit event naming them."""
    declared = [{"filename": name, "size": len(data)} for name, data in files]
    response = handler(json_event("POST", "/v1/uploads", {"files": declared}), lambda_context())
    slots = json.loads(response["body"])["slots"]
    for slot, (_, data) in zip(slots, files, strict=True):
        put = http_api_event("PUT", urlsplit(slot["url"]).path, headers=slot["headers"], body=data)
        assert handler(put, lambda_context())["statusCode"] == 204
    return json_event("POST", "/v1/group-images", {"uploads": [slot["slot"] for slot in slots]})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20, help="submits per configuration")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bgr-aws-bench-"))
    os.environ.update(
        BGR_DATABASE_URL=f"sqlite:///{workdir / 'ledger.db'}",
        BGR_QUEUE_URL=f"sqlite:///{workdir / 'queue.db'}",
        BGR_STORAGE_URL=f"file://{workdir / 'blobs'}",
        BGR_UPLOAD_SIGNING_KEY=base64.b64encode(os.urandom(32)).decode(),
    )
    started = time.perf_counter()
    import importlib

    for module in ("mangum", "bgremover.api", "bgremover.wiring"):  # what the handler module imports
        importlib.import_module(module)

    imported = time.perf_counter()
    from bgremover.aws.api import handler

    done = time.perf_counter()
    print(f"cold start: imports {imported - started:.2f} s, then services built {done - imported:.2f} s")
    print(f"{'submit':<34} {'event MB':>8} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'vs 45-60 s at p99':>18}")
    rows: list[tuple[str, list[tuple[str, bytes]], bool]] = [
        (f"multipart, {n} photos", photos(n), False) for n in (1, 20, 100)
    ]
    rows += [(f"by reference, {n} photos", photos(n), True) for n in (1, 20, 100)]
    rows.append(("by reference, 30 photos of 2 MB", big_photos(30, 2_000_000), True))
    for label, files, referenced in rows:
        latencies, size = [], 0
        for _ in range(args.repeats):
            event = (
                by_reference_event(handler, files)
                if referenced
                else multipart_event("/v1/group-images", files)
            )
            size = len(event.get("body", ""))
            seconds, response = timed(handler, event)
            assert response["statusCode"] == 202, response
            latencies.append(seconds)
        p50, p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
        ratio = f"x{ORIGINAL_S[0] / p99:,.0f}-{ORIGINAL_S[1] / p99:,.0f}"
        figures = f"{size / 1e6:>8.2f} {len(latencies):>4} {p50 * 1e3:>8.1f} {p99 * 1e3:>8.1f}"
        print(f"{label:<34} {figures} {ratio:>18}")
        assert p99 < TARGET_S, f"{label}: p99 {p99:.2f} s over the {TARGET_S} s target"


if __name__ == "__main__":
    main()
