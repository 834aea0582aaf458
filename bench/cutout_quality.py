"""Cut-out quality on the 300 SOD pairs, every option side by side in one run: this project's default,
subject selection, the second pass (unguarded, as before, and guarded), optionally the ROI, and rembg
with the same u2netp.onnx. Per contender: mean and median IoU (mask > 127 vs truth > 127), MAE (0..1),
how many photos score under 0.5, the worst loss of one photo against the default, and the model runs
each contender asks for per photo (its cost: the contenders share one session whose results are
memoised per input, so the run costs each distinct inference once; the default, asked first, and rembg
are timed on real inferences).

    .venv/bin/python bench/cutout_quality.py [--limit N] [--roi-from-gt]

``--roi-from-gt`` adds contenders given a ROI: each ground-truth mask's bounding box widened by 5% of
its width and height on each side, in pixels, as a user drawing a rectangle around the product would.
"""

from __future__ import annotations

import argparse
import hashlib
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
REMBG = "rembg 2.x u2netp"


class MemoSession:
    """The engine's session with results memoised by input pixels: contenders that ask for the same
    inference (every whole-frame first pass, the ROI crops) share it. ``runs`` counts the asks."""

    def __init__(self, session) -> None:
        self._session = session
        self._memo: dict[bytes, np.ndarray] = {}
        self.runs = 0

    def predict(self, image: Image.Image) -> np.ndarray:
        self.runs += 1
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest() + repr(image.size).encode()
        if key not in self._memo:
            self._memo[key] = self._session.predict(image)
        return self._memo[key].copy()

    def forget(self) -> None:
        self._memo.clear()


def contenders(with_roi: bool, session: MemoSession) -> dict[str, MaskFn]:
    engine = CutoutEngine(session)  # type: ignore[arg-type]
    unguarded = SecondPass(enabled=True, min_agreement=0)
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
        peer = rembg_session()
    except ImportError:
        print("rembg is not installed (pip install '.[bench]'): no peer in this run")
        return fns
    from rembg import remove

    fns[REMBG] = lambda image, _: np.asarray(remove(image, session=peer, only_mask=True))
    return fns


def _whole_frame(engine: CutoutEngine) -> MaskFn:
    return lambda image, _: engine.predict_mask(image)


def roi_from_truth(truth: np.ndarray) -> Roi:
    """The ground truth's box widened by ``ROI_MARGIN`` of its size on each side, in pixels."""
    height, width = truth.shape
    return Roi.around(subject_box(truth, 127) or (0, 0, width, height), width, height, ROI_MARGIN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only (development)")
    parser.add_argument("--roi-from-gt", action="store_true", help="add ROI contenders (gt box + 5%%)")
    args = parser.parse_args()
    pairs = sod300_pairs()[: args.limit]
    session = MemoSession(CutoutEngine.from_settings(model_dir=model_dir()).session)
    fns = contenders(args.roi_from_gt, session)
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    runs: dict[str, int] = dict.fromkeys(fns, 0)
    seconds: dict[str, float] = dict.fromkeys((DEFAULT, REMBG), 0.0)
    for image_path, truth_path in pairs:
        image = decode_image(image_path)
        truth = np.asarray(Image.open(truth_path).convert("L"))
        roi = roi_from_truth(truth)
        session.forget()
        for name, fn in fns.items():  # the default first: it pays the shared first pass
            asked, started = session.runs, time.perf_counter()
            mask = fn(image, roi)
            if name in seconds:
                seconds[name] += time.perf_counter() - started
            runs[name] += session.runs - asked
            scores[name].append((mask_iou(mask, truth), mask_mae(mask, truth)))
    report(scores, runs, len(pairs))
    timed = ", ".join(f"{name} {total / len(pairs) * 1000:.0f} ms/img" for name, total in seconds.items())
    print(f"time on real inferences: {timed}")


def report(scores: dict[str, list[tuple[float, float]]], runs: dict[str, int], count: int) -> None:
    print(f"SOD-300, {count} pairs")
    columns = ("mean IoU", 9), ("median", 7), ("MAE", 7), ("<0.5", 5), ("worst loss", 10), ("runs/img", 8)
    print(f"{'contender':<26} " + " ".join(f"{title:>{width}}" for title, width in columns))
    baseline = np.asarray(scores[DEFAULT])[:, 0]
    for name, values in scores.items():
        table = np.asarray(values)
        iou, mae = table[:, 0], table[:, 1]
        worst = float(np.max(baseline - iou))
        cost = f"{runs[name] / count:8.2f}" if name != REMBG else f"{1:8.2f}"
        print(
            f"{name:<26} {iou.mean():9.4f} {np.median(iou):7.4f} {mae.mean():7.4f} "
            f"{int((iou < 0.5).sum()):5d} {worst:10.3f} {cost}"
        )


if __name__ == "__main__":
    main()
