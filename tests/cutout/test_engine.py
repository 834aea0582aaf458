"""The engine on the real u2netp model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgremover.cutout import CutoutEngine
from bgremover.cutout.engine import SecondPass, to_uint8
from bgremover.cutout.metrics import mask_iou
from bgremover.imaging.decode import decode_image


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> CutoutEngine:
    return CutoutEngine.from_settings(model_dir=model_dir)


def test_engine_is_cached_per_process(model_dir: Path, engine: CutoutEngine) -> None:
    assert CutoutEngine.from_settings("u2netp", model_dir) is engine


@pytest.mark.parametrize("size", [(5, 3), (481, 321), (1000, 200)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_mask_is_uint8_at_the_input_size(engine: CutoutEngine, size: tuple[int, int], mode: str) -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).convert(mode)
    mask = engine.predict_mask(image)
    assert mask.dtype == np.uint8
    assert mask.shape == (size[1], size[0])


def test_mask_finds_the_salient_object(engine: CutoutEngine, shared_data: Path) -> None:
    root = shared_data / "sod300"
    image = decode_image(root / "images" / "100075.jpg")
    truth = np.asarray(Image.open(root / "masks" / "100075.png").convert("L"))
    mask = engine.predict_mask(image)
    assert mask.min() == 0 and mask.max() == 255
    assert mask_iou(mask, truth) > 0.5


def test_second_pass_looks_again_only_inside_the_small_subject_box(engine: CutoutEngine) -> None:
    canvas = np.full((600, 800, 3), 235, np.uint8)
    canvas[280:320, 380:420] = (180, 30, 30)  # a small red object on a light table
    image = Image.fromarray(canvas)
    first = engine.predict_mask(image)
    second = engine.with_options(second_pass=SecondPass(enabled=True)).predict_mask(image)
    assert second.shape == first.shape
    changed = np.argwhere(first != second)
    assert changed.size > 0
    ys, xs = changed[:, 0], changed[:, 1]
    assert 200 < ys.min() < ys.max() < 400
    assert 300 < xs.min() < xs.max() < 500


def test_missing_model_tells_the_user_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="models fetch"):
        CutoutEngine.from_settings("u2netp", tmp_path)


def test_unknown_model_is_refused(model_dir: Path) -> None:
    with pytest.raises(KeyError, match="unknown model"):
        CutoutEngine.from_settings("no-such-model", model_dir)


def test_refinement_snaps_the_mask_to_the_photo_edges(engine: CutoutEngine) -> None:
    canvas = np.full((320, 480, 3), 230, np.uint8)
    canvas[80:240, 120:360] = (30, 60, 160)  # a dark box with hard edges
    image = Image.fromarray(canvas)
    plain = engine.predict_mask(image)
    refined = engine.with_options(refine=True).predict_mask(image)
    assert refined.shape == plain.shape and refined.dtype == np.uint8
    assert not np.array_equal(plain, refined)
    assert engine.refine is False  # with_options returns a new engine


def test_probability_to_uint8_rounds_and_saturates() -> None:
    prob = np.array([[0.0, 1.0, 0.5, 0.2, 1.0 + 1e-6, 0.998]], np.float32)
    assert to_uint8(prob).tolist() == [[0, 255, 128, 51, 255, 254]]
    assert to_uint8(prob).dtype == np.uint8
