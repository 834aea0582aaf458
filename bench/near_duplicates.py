"""A second grouping evaluation set, built in memory from ``../shared/data/sod300``.

grocery_val has one weakness as a test of product grouping: each product was photographed in its own
shelf, so the background itself gives the answer. Product shoots are the opposite: one studio, one
table, many products. This set has known answers for both failure modes, made from real photos and
their ground-truth masks (deterministic for a seed):

- the same object, several ways: the photo; a crop; a mirror image; a darker, re-compressed, smaller
  copy; the object pasted, with its mask, onto the background of another photo (same product, new
  background);
- a colourway of that object: its pixels hue-rotated by 120 degrees inside the mask, on the original
  background and mirrored (a different product on the same background). Only objects with enough
  saturation get one: hue-rotating a grey object would make a "different" product nobody can see.

Run ``python bench/near_duplicates.py`` to print the set's make-up.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MIN_SATURATION = 70  # mean HSV saturation (0..255) inside the mask for an object to get a colourway
MIN_OBJECT_FRACTION = 0.05


@dataclass(frozen=True)
class Sample:
    name: str
    label: int
    image: Image.Image


def _load(root: Path, row: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(Image.open(root / row["image"]).convert("RGB"))
    mask = np.asarray(Image.open(root / row["mask"]).convert("L")) > 127
    return rgb, mask


def _composite(front: np.ndarray, back: np.ndarray, mask: np.ndarray) -> np.ndarray:
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)[..., None]
    back = cv2.resize(back, (front.shape[1], front.shape[0]), interpolation=cv2.INTER_AREA)
    return np.rint(front * alpha + back * (1 - alpha)).astype(np.uint8)


def _hue_rotated(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.where(mask, (hsv[..., 0].astype(np.int32) + 60) % 180, hsv[..., 0]).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _degraded(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    darker = Image.fromarray(np.clip(np.asarray(image) * rng.uniform(0.75, 0.9), 0, 255).astype(np.uint8))
    small = darker.resize((int(image.width * 0.6), int(image.height * 0.6)), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=45)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _crop(image: Image.Image, mask: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A crop that keeps the whole object and drops a random share of the rest."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    left = int(rng.uniform(0, 0.7) * cols[0])
    top = int(rng.uniform(0, 0.7) * rows[0])
    right = image.width - int(rng.uniform(0, 0.7) * (image.width - cols[-1] - 1))
    bottom = image.height - int(rng.uniform(0, 0.7) * (image.height - rows[-1] - 1))
    return image.crop((left, top, right, bottom))


def build(n_objects: int = 40, seed: int = 0, root: Path | None = None) -> list[Sample]:
    """``n_objects`` source photos (the first usable ones in manifest order) and their variants."""
    root = root or SHARED_DATA / "sod300"
    rng = np.random.default_rng(seed)
    rows = list(csv.DictReader((root / "manifest.csv").open()))
    usable = [(row, *_load(root, row)) for row in rows]
    usable = [(row, rgb, mask) for row, rgb, mask in usable if mask.mean() >= MIN_OBJECT_FRACTION][:n_objects]
    samples: list[Sample] = []
    for index, (row, rgb, mask) in enumerate(usable):
        stem, label = Path(row["image"]).stem, 2 * index
        photo = Image.fromarray(rgb)
        other = usable[(index + 1 + int(rng.integers(len(usable) - 1))) % len(usable)][1]
        samples += [
            Sample(f"{stem}-photo", label, photo),
            Sample(f"{stem}-crop", label, _crop(photo, mask, rng)),
            Sample(f"{stem}-mirror", label, ImageOps.mirror(photo)),
            Sample(f"{stem}-degraded", label, _degraded(photo, rng)),
            Sample(f"{stem}-new-background", label, Image.fromarray(_composite(rgb, other, mask))),
        ]
        saturation = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1][mask].mean()
        if saturation >= MIN_SATURATION:
            colourway = Image.fromarray(_hue_rotated(rgb, mask))
            samples += [
                Sample(f"{stem}-colourway", label + 1, colourway),
                Sample(f"{stem}-colourway-mirror", label + 1, ImageOps.mirror(colourway)),
            ]
    return samples


if __name__ == "__main__":
    built = build()
    groups = {s.label for s in built}
    print(f"{len(built)} images, {len(groups)} products, {sum(s.label % 2 for s in built)} colourway images")
