"""The init phase of each Lambda handler: the seconds to import ``bgremover.aws.<name>`` in a fresh
process (what a cold start adds before the first event), and which heavy libraries it loaded.

    .venv/bin/python bench/aws_cold_start.py               # api, reaper, failures, worker; 3 runs each
    .venv/bin/python bench/aws_cold_start.py --runs 1 --handlers api,failures

The worker's init includes loading the models (``Engines.warm``), so it is the model load, not the
import, that it times. Backends are SQLite, its queue and local disk in a temporary directory: nothing
is read at import but the settings, so the figure is the handler's own; a deployed function adds
the runtime's start and, for the zips, the unzipping.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT

HEAVY = ("onnxruntime", "cv2", "sklearn")
PROBE = """
import json, sys, time
started = time.perf_counter()
import bgremover.aws.{name}
print(json.dumps({{"s": time.perf_counter() - started, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def init_once(name: str, folder: Path) -> dict[str, object]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BGR_")},
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "BGR_DATABASE_URL": f"sqlite:///{folder / 'ledger.db'}",
        "BGR_QUEUE_URL": f"sqlite:///{folder / 'queue.db'}",
        "BGR_STORAGE_URL": f"file://{folder / 'blobs'}",
        "BGR_MODEL_DIR": os.environ.get("BGR_MODEL_DIR", str(REPO_ROOT / "var" / "models")),
        "BGR_CONFIG_FILE": str(folder / "none.toml"),
        "AWS_LAMBDA_FUNCTION_NAME": f"bg-remover-{name}",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(name=name, heavy=HEAVY)],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--handlers", default="api,reaper,failures,worker")
    args = parser.parse_args()
    for name in args.handlers.split(","):
        with tempfile.TemporaryDirectory() as folder:
            runs = [init_once(name, Path(folder)) for _ in range(args.runs)]
        seconds = [float(run["s"]) for run in runs]  # type: ignore[arg-type]
        heavy = sorted({m for run in runs for m in run["heavy"]})  # type: ignore[attr-defined]
        print(
            f"{name:9s} init median {statistics.median(seconds):.2f} s "
            f"(runs: {', '.join(f'{s:.2f}' for s in seconds)}); heavy modules: {', '.join(heavy) or 'none'}"
        )


if __name__ == "__main__":
    main()
