"""Helpers shared by the benchmarks: where the data and models are, and a rembg session that uses the
very same u2netp.onnx, offline."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def model_dir() -> Path:
    """``BGR_MODEL_DIR`` or ``var/models``; the models must have been fetched (``make setup``)."""
    return Path(os.environ.get("BGR_MODEL_DIR") or REPO_ROOT / "var" / "models")


def sod300_pairs() -> list[tuple[Path, Path]]:
    """(image, ground-truth mask) for every row of ``sod300/manifest.csv``."""
    root = SHARED_DATA / "sod300"
    with (root / "manifest.csv").open() as fh:
        return [(root / row["image"], root / row["mask"]) for row in csv.DictReader(fh)]


def rembg_session():
    """rembg's ``u2netp`` session over our fetched file: rembg finds it in ``U2NET_HOME`` with the
    md5 it pins, so it never downloads."""
    home = Path(tempfile.mkdtemp(prefix="bgr-rembg-"))
    shutil.copyfile(model_dir() / "u2netp.onnx", home / "u2netp.onnx")
    os.environ["U2NET_HOME"] = str(home)
    from rembg import new_session

    return new_session("u2netp")
