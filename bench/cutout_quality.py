"""Cut-out quality on all 300 SOD pairs: this project (default and with the second pass) and rembg
with the same u2netp.onnx, in one run. Mean IoU (mask > 127 vs truth > 127) and MAE (0..1).

    .venv/bin/python bench/cutout_quality.py [--limit N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from _common import model_dir, rembg_session, sod300_pairs
from bgremover.cutout import CutoutEngine
from bgremover.cutout.engine import SecondPass
from bgremover.cutout.metrics import mask_iou, mask_mae
from bgremover.imaging.decode import decode_image

MaskFn = Callable[[Path], np.ndarray]


def contenders() -> dict[str, MaskFn]:
    engine = CutoutEngine.from_settings(model_dir=model_dir())
    second = engine.with_options(second_pass=SecondPass(enabled=True))
    session = rembg_session()
    from rembg import remove

    return {
        "bg-remover (default)": lambda p: engine.predict_mask(decode_image(p)),
        "bg-remover --second-pass": lambda p: second.predict_mask(decode_image(p)),
        "rembg 2.x u2netp": lambda p: np.asarray(remove(Image.open(p), session=session, only_mask=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only (development)")
    args = parser.parse_args()
    pairs = sod300_pairs()[: args.limit]
    fns = contenders()
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    seconds: dict[str, float] = dict.fromkeys(fns, 0.0)
    for image_path, truth_path in pairs:
        truth = np.asarray(Image.open(truth_path).convert("L"))
        for name, fn in fns.items():  # interleaved, so machine load hits every contender alike
            started = time.perf_counter()
            mask = fn(image_path)
            seconds[name] += time.perf_counter() - started
            scores[name].append((mask_iou(mask, truth), mask_mae(mask, truth)))
    print(f"SOD-300, {len(pairs)} pairs")
    print(f"{'contender':<28} {'mean IoU':>9} {'MAE':>7} {'ms/img':>8}")
    for name, values in scores.items():
        iou, mae = np.mean(values, axis=0)
        print(f"{name:<28} {iou:9.4f} {mae:7.4f} {seconds[name] / len(pairs) * 1000:8.0f}")


if __name__ == "__main__":
    main()
