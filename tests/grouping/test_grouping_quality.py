"""Grouping quality on grocery_val (296 shop photos, 81 products), measured with the real models.

Floors were measured with ``bench/grouping_quality.py`` (see the README) and set a little below, so
that they catch a regression without failing on noise; the pHash baseline runs in the same test."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from bgremover.grouping import GroupingEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from grouping_quality import group_labels, phash_labels

ENGINE_ARI_FLOOR = 0.45
MARGIN_OVER_PHASH = 0.35

pytestmark = [pytest.mark.quality, pytest.mark.slow]


def test_engine_beats_perceptual_hash_by_a_wide_margin(shared_data: Path, model_dir: Path) -> None:
    root = shared_data / "grocery_val"
    rows = [r for r in csv.DictReader((root / "manifest.csv").open()) if r["split"] == "val"]
    images = [Image.open(root / r["path"]).convert("RGB") for r in rows]
    truth = np.array([int(r["fine_id"]) for r in rows])
    engine = GroupingEngine.from_settings(model_dir)
    engine_ari = adjusted_rand_score(truth, group_labels(engine.group(images), len(images)))
    phash_ari = adjusted_rand_score(truth, phash_labels(images))
    assert len(rows) == 296
    assert engine_ari >= ENGINE_ARI_FLOOR, f"engine ARI {engine_ari:.3f}"
    assert engine_ari >= phash_ari + MARGIN_OVER_PHASH, f"engine {engine_ari:.3f} vs pHash {phash_ari:.3f}"
