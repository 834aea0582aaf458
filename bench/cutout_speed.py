"""End-to-end cut-out throughput (decode, infer, encode, write) in one run, as ratios:
this project's Python API and CLI, rembg with the same u2netp.onnx, and the bare ONNX Runtime
inference at 1x3x320x320 with the default session (all cores on one image). The batch infers one
image per core at once on single-threaded sessions (``BGR_ORT_LANES``), so its time per photo can be
below the bare single inference ("vs bare" < 1). With ``--rss``, the peak RSS of the CLI on 100 and 1000
files.

    .venv/bin/python bench/cutout_speed.py [--small 200] [--large 30] [--rss]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from _common import SHARED_DATA, model_dir, rembg_session, sod300_pairs
from bgremover.cutout import CutoutEngine, CutoutOptions
from bgremover.cutout.batch import run_batch
from bgremover.models.sessions import get_session

CLI = Path(sys.executable).with_name("bg-remover")
LARGE_SIDE = 3000


def small_photos(count: int) -> list[Path]:
    return sorted((SHARED_DATA / "fashion_products").glob("*.jpg"))[:count]


def large_photos(count: int, folder: Path) -> list[Path]:
    """Camera-size photos: SOD photos upscaled to 3000 px on the long side (JPEG q92)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for image_path, _ in sod300_pairs()[:count]:
        with Image.open(image_path) as image:
            scale = LARGE_SIDE / max(image.size)
            big = image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)))
        target = folder / image_path.name
        big.save(target, quality=92)
        paths.append(target)
    return paths


def linked(paths: list[Path], folder: Path) -> Path:
    """A folder of symlinks, so the CLI reads exactly this set (data is never copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def api_run(paths: list[Path], out: Path) -> None:
    engine = CutoutEngine.from_settings(model_dir=model_dir())
    failed = [item for item in run_batch(paths, out, engine, CutoutOptions()) if not item.ok]
    assert not failed, failed


def cli_run(folder: Path, out: Path) -> None:
    cmd = [str(CLI), "remove", str(folder), "-o", str(out), "--model-dir", str(model_dir())]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")


def rembg_run(paths: list[Path], out: Path, remove, session) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        (out / f"{path.stem}.png").write_bytes(remove(path.read_bytes(), session=session))


def bare_inference_seconds(runs: int) -> float:
    """Median seconds of one ``session.run`` on a 1x3x320x320 tensor: the model's own cost."""
    session = get_session(model_dir() / "u2netp.onnx")
    tensor = np.random.default_rng(0).standard_normal((1, 3, 320, 320)).astype(np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: tensor})
    return statistics.median(timed(lambda: session.run(None, {name: tensor})) for _ in range(runs))


def compare(label: str, paths: list[Path], work: Path) -> None:
    from rembg import remove

    session = rembg_session()
    folder = linked(paths, work / f"{label}-in")
    api_run(paths[:2], work / "warm-api")  # session creation is not per-image cost
    rembg_run(paths[:2], work / "warm-rembg", remove, session)
    seconds = {
        "bg-remover API": timed(lambda: api_run(paths, work / f"{label}-api")),
        "bg-remover CLI (incl. start-up)": timed(lambda: cli_run(folder, work / f"{label}-cli")),
        "rembg remove(bytes)": timed(lambda: rembg_run(paths, work / f"{label}-rembg", remove, session)),
    }
    bare = bare_inference_seconds(min(len(paths), 30))
    n = len(paths)
    print(f"\n{label}: {n} files")
    print(f"{'contender':<34} {'img/s':>7} {'ms/img':>8} {'vs rembg':>9} {'vs bare':>8}")
    rembg_rate = n / seconds["rembg remove(bytes)"]
    for name, secs in seconds.items():
        per = secs / n
        print(
            f"{name:<34} {n / secs:7.2f} {per * 1000:8.0f} {n / secs / rembg_rate:8.2f}x {per / bare:7.2f}x"
        )
    print(f"{'bare ORT 1x3x320x320 (median)':<34} {1 / bare:7.2f} {bare * 1000:8.0f}")


def peak_rss_mib(folder: Path, out: Path) -> float:
    cmd = [
        "/usr/bin/time",
        "-v",
        str(CLI),
        "remove",
        str(folder),
        "-o",
        str(out),
        "--model-dir",
        str(model_dir()),
    ]
    stderr = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1)) / 1024


def rss(work: Path) -> None:
    print("\npeak RSS of `bg-remover remove` (fashion_products):")
    for count in (100, 1000):
        folder = linked(small_photos(count), work / f"rss-{count}")
        print(f"  {count:>5} files: {peak_rss_mib(folder, work / f'rss-{count}-out'):7.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=30)
    parser.add_argument("--rss", action="store_true", help="also measure peak RSS on 100 and 1000 files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bgr-speed-") as tmp:
        work = Path(tmp)
        compare("small photos (fashion_products)", small_photos(args.small), work)
        compare(f"large photos ({LARGE_SIDE} px)", large_photos(args.large, work / "large-src"), work)
        if args.rss:
            rss(work)


if __name__ == "__main__":
    main()
