"""The big photos of the payload scenario, made once under ``var/loadtest/payloads``: about 100 KB,
1 MB, 5 MB and 20 MB, each a natural photo of the shared data (BSDS) scaled up with sensor-like noise
until its JPEG reaches the size, so that big uploads still decode and embed like photos. (The product
photos of the other scenarios are read from the shared data where they are, never copied.)"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = {"100KB": 100_000, "1MB": 1_000_000, "5MB": 5_000_000, "20MB": 20_000_000}


def _jpeg(source: Image.Image, scale: float, noise: np.ndarray) -> bytes:
    size = (max(16, round(source.width * scale)), max(16, round(source.height * scale)))
    pixels = np.asarray(source.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = np.resize(noise, pixels.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=95)
    return out.getvalue()


def _photo_of_size(source: Image.Image, target: int) -> bytes:
    """Bisect the scale until the JPEG is within 10% of ``target`` bytes."""
    noise = np.random.default_rng(0).normal(0, 12, size=(1024, 1024, 3)).astype(np.int16)
    low, high = 0.05, 20.0
    data = _jpeg(source, 1.0, noise)
    for _ in range(30):
        scale = (low * high) ** 0.5
        data = _jpeg(source, scale, noise)
        if abs(len(data) - target) <= target * 0.1:
            break
        low, high = (scale, high) if len(data) < target else (low, scale)
    return data


def prepare(shared_data: Path, folder: Path) -> None:
    """Fill ``folder``; photos already there are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    source = Image.open(sorted((shared_data / "sod300" / "images").glob("*.jpg"))[0]).convert("RGB")
    for label, target in SIZES.items():
        path = folder / f"photo-{label}.jpg"
        if not path.exists():
            path.write_bytes(_photo_of_size(source, target))
