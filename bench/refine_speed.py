"""Edge refinement on large photos: the guided filter at full resolution against the fast guided
filter that ``refine`` uses above 1024 px (coefficients from a shrunk copy, applied at full size).
SOD photos enlarged 8x (about 10 MP) with their u2netp masks; time per photo, and how far the fast
result is from the full one (mean absolute difference, 0..1, and IoU of the two masks at 0.5).

    .venv/bin/python bench/refine_speed.py [--limit N] [--factor 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from _common import model_dir, sod300_pairs
from bgremover.cutout import CutoutEngine
from bgremover.cutout.engine import resize_map, to_uint8
from bgremover.cutout.metrics import mask_iou
from bgremover.cutout.refine import guided_filter
from bgremover.imaging.decode import decode_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--factor", type=int, default=8)
    args = parser.parse_args()
    engine = CutoutEngine.from_settings(model_dir=model_dir())
    seconds = {"full": 0.0, "fast": 0.0}
    diffs, ious = [], []
    pairs = sod300_pairs()[: args.limit]
    for image_path, _ in pairs:
        small = decode_image(image_path)
        image = small.resize(
            (small.width * args.factor, small.height * args.factor), Image.Resampling.BICUBIC
        )
        guide = np.asarray(image.convert("L"))
        prob = resize_map(engine.session.predict(small), image.width, image.height)
        started = time.perf_counter()
        full = guided_filter(guide, prob, working_side=None)
        seconds["full"] += time.perf_counter() - started
        started = time.perf_counter()
        fast = guided_filter(guide, prob)
        seconds["fast"] += time.perf_counter() - started
        diffs.append(float(np.abs(full - fast).mean()))
        ious.append(mask_iou(to_uint8(fast), to_uint8(full)))
    count = len(pairs)
    print(f"{count} photos of {image.width}x{image.height}")
    full, fast = (seconds[kind] / count * 1000 for kind in ("full", "fast"))
    print(f"full {full:.0f} ms, fast {fast:.0f} ms per photo: {full / fast:.1f}x")
    print(
        f"fast vs full: mean |diff| {np.mean(diffs):.4f}, mask IoU {np.mean(ious):.4f} (min {min(ious):.4f})"
    )


if __name__ == "__main__":
    main()
