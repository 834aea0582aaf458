"""Cut-out quality on the 300 SOD pairs, every option side by side in one run: this project's default,
subject selection, the second pass (unguarded, as before, and guarded), optionally the ROI, and rembg
with the same u2netp.onnx. Per contender: mean and median IoU (mask > 127 vs truth > 127), MAE (0..1),
how many photos score under 0.5, the worst loss of one photo against the default, and time per photo.

    .venv/bin/python bench/cutout_quality.py [--limit N] [--roi-from-gt]

``--roi-from-gt`` adds contenders given a ROI: each ground-truth mask's bounding box widened by 5% of
its width and height on each side, in pixels, as a user drawing a rectangle around the product would.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from _common import model_dir, rembg_session, sod300_pairs
from bgremover.cutout import CutoutEngine
from bgremover.cutout.engine import SecondPass, subject_box
from bgremover.cutout.metrics import mask_iou, mask_mae
from bgremover.cutout.roi import Roi
from bgremover.imaging.decode import decode_image

MaskFn = Callable[[Image.Image, Roi | None], np.ndarray]
ROI_MARGIN = 0.05
DEFAULT = "bg-remover (default)"


def contenders(with_roi: bool) -> dict[str, MaskFn]:
    engine = CutoutEngine.from_settings(model_dir=model_dir())
    unguarded = SecondPass(enabled=True, min_dominance=0, min_agreement=0)
    variants = {
        DEFAULT: engine,
        "subject=largest": engine.with_options(subject="largest"),
        "subject=central": engine.with_options(subject="central"),
        "second pass, unguarded": engine.with_options(second_pass=unguarded),
        "second pass, guarded": engine.with_options(second_pass=SecondPass(enabled=True)),
    }
    fns: dict[str, MaskFn] = {name: _whole_frame(e) for name, e in variants.items()}
    if with_roi:
        fns["roi (gt box +5%)"] = engine.predict_mask
        fns["roi + subject=largest"] = variants["subject=largest"].predict_mask
        fns["roi + subject=central"] = variants["subject=central"].predict_mask
    try:
        session = rembg_session()
    except ImportError:
        print("rembg is not installed (pip install '.[bench]'): no peer in this run")
        return fns
    from rembg import remove

    fns["rembg 2.x u2netp"] = lambda image, _: np.asarray(remove(image, session=session, only_mask=True))
    return fns


def _whole_frame(engine: CutoutEngine) -> MaskFn:
    return lambda image, _: engine.predict_mask(image)


def roi_from_truth(truth: np.ndarray) -> Roi:
    """The ground truth's box widened by ``ROI_MARGIN`` of its size on each side, in pixels."""
    height, width = truth.shape
    box = subject_box(truth, 127) or (0, 0, width, height)
    x0, y0, x1, y1 = box
    dx, dy = math.ceil(ROI_MARGIN * (x1 - x0)), math.ceil(ROI_MARGIN * (y1 - y0))
    left, top = max(0, x0 - dx), max(0, y0 - dy)
    right, bottom = min(width, x1 + dx), min(height, y1 + dy)
    return Roi.parse(f"{left}px {top}px {right}px {bottom}px")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only (development)")
    parser.add_argument("--roi-from-gt", action="store_true", help="add ROI contenders (gt box + 5%%)")
    args = parser.parse_args()
    pairs = sod300_pairs()[: args.limit]
    fns = contenders(args.roi_from_gt)
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    seconds: dict[str, float] = dict.fromkeys(fns, 0.0)
    for image_path, truth_path in pairs:
        image = decode_image(image_path)
        truth = np.asarray(Image.open(truth_path).convert("L"))
        roi = roi_from_truth(truth)
        for name, fn in fns.items():  # interleaved, so machine load hits every contender alike
            started = time.perf_counter()
            mask = fn(image, roi)
            seconds[name] += time.perf_counter() - started
            scores[name].append((mask_iou(mask, truth), mask_mae(mask, truth)))
    report(scores, seconds, len(pairs))


def report(scores: dict[str, list[tuple[float, float]]], seconds: dict[str, float], count: int) -> None:
    print(f"SOD-300, {count} pairs")
    columns = ("mean IoU", 9), ("median", 7), ("MAE", 7), ("<0.5", 5), ("worst loss", 10), ("ms/img", 7)
    print(f"{'contender':<26} " + " ".join(f"{title:>{width}}" for title, width in columns))
    baseline = np.asarray(scores[DEFAULT])[:, 0]
    for name, values in scores.items():
        table = np.asarray(values)
        iou, mae = table[:, 0], table[:, 1]
        worst = float(np.max(baseline - iou))
        print(
            f"{name:<26} {iou.mean():9.4f} {np.median(iou):7.4f} {mae.mean():7.4f} "
            f"{int((iou < 0.5).sum()):5d} {worst:10.3f} {seconds[name] / count * 1000:7.0f}"
        )


if __name__ == "__main__":
    main()
