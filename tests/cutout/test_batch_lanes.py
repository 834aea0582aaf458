"""``run_batch``: several images inferred at once, results in input order, a bad file reported and
skipped, and never more than ``lanes`` images inside the model."""

from __future__ import annotations

import io
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgremover.cutout import CutoutEngine, CutoutOptions
from bgremover.cutout.batch import default_lanes, run_batch
from bgremover.cutout.roi import Roi
from bgremover.models.sessions import default_threads


class ConcurrencyProbeEngine:
    """Test double of :class:`CutoutEngine`'s batch contract (``with_threads``, ``predict_mask``): a
    fixed mask after a short sleep, recording the most calls seen inside it at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.threads_asked: list[int] = []
        self._lock = threading.Lock()

    def with_threads(self, threads: int) -> ConcurrencyProbeEngine:
        self.threads_asked.append(threads)
        return self

    def predict_mask(self, image: Image.Image, roi: Roi | None = None) -> np.ndarray:
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.02)
        with self._lock:
            self.inside -= 1
        return np.full((image.height, image.width), 255, np.uint8)


@pytest.fixture
def many_inputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for i in range(12):
        path = folder / f"p{i:02d}.png"
        Image.new("RGB", (16 + i, 10), (i * 20, 0, 0)).save(path)
        paths.append(path)
    paths[5].write_bytes(b"not an image")
    return paths


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_lanes_bound_the_model_calls_and_keep_the_order(
    many_inputs: list[Path], tmp_path: Path, lanes: int
) -> None:
    probe = ConcurrencyProbeEngine()
    items = list(run_batch(many_inputs, tmp_path / "out", probe, CutoutOptions(), lanes=lanes))  # type: ignore[arg-type]
    assert [item.source for item in items] == many_inputs
    assert [item.ok for item in items] == [i != 5 for i in range(12)]
    assert items[5].error.startswith("not-an-image")
    assert probe.most_inside == lanes  # the lanes really overlap, and never more of them
    assert probe.threads_asked == ([max(1, default_threads() // lanes)] if lanes > 1 else [])
    for item in items:
        if item.ok:
            assert Image.open(item.output).size == Image.open(item.source).size


def test_lanes_give_the_same_cutouts_as_one_lane(model_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    """Single-threaded sessions side by side compute the same masks as one two-threaded session (up
    to float summation order: at most one grey level)."""
    sources = [tmp_path / "in" / name for name in ("rocket.jpg", "horse.png", "coffee.png")]
    sources[0].parent.mkdir()
    for source in sources:
        shutil.copyfile(shared_data / "formats" / source.name, source)
    engine = CutoutEngine.from_settings(model_dir=model_dir)
    one = list(run_batch(sources, tmp_path / "one", engine, CutoutOptions(mask_only=True), lanes=1))
    two = list(run_batch(sources, tmp_path / "two", engine, CutoutOptions(mask_only=True), lanes=2))
    for a, b in zip(one, two, strict=True):
        assert a.ok and b.ok
        mask_a = np.asarray(Image.open(io.BytesIO(a.output.read_bytes())), np.int16)
        mask_b = np.asarray(Image.open(io.BytesIO(b.output.read_bytes())), np.int16)
        assert np.abs(mask_a - mask_b).max() <= 1


def test_lanes_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGR_ORT_LANES", "3")
    assert default_lanes() == 3
    monkeypatch.delenv("BGR_ORT_LANES")
    assert default_lanes() == default_threads()  # one lane per core
