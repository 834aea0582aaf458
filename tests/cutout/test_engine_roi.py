"""The ROI on the real u2netp model: nothing outside it is foreground, and the model sees the rectangle
and a little context around it, at its own resolution, instead of the whole photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgremover.cutout import CutoutEngine
from bgremover.cutout.engine import ROI_CONTEXT
from bgremover.cutout.metrics import mask_iou
from bgremover.cutout.roi import Roi, RoiError
from bgremover.imaging.decode import decode_image


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> CutoutEngine:
    return CutoutEngine.from_settings(model_dir=model_dir)


@pytest.fixture(scope="module")
def coffee(shared_data: Path) -> Image.Image:
    return decode_image(shared_data / "formats" / "coffee.png")


def test_outside_the_roi_is_background_and_inside_is_the_model_on_the_roi_and_its_context(
    engine: CutoutEngine, coffee: Image.Image
) -> None:
    roi = Roi.parse("100px 10% 60% 300px")
    x0, y0, x1, y1 = box = roi.box(coffee.width, coffee.height)
    view = Roi.around(box, coffee.width, coffee.height, ROI_CONTEXT).box(coffee.width, coffee.height)
    assert view == (35, 0, 425, 365)  # a quarter of the ROI's size around it, within the photo
    mask = engine.predict_mask(coffee, roi)
    assert mask.shape == (coffee.height, coffee.width)
    outside = mask.copy()
    outside[y0:y1, x0:x1] = 0
    assert not outside.any()
    seen = engine.predict_mask(coffee.crop(view))
    assert np.array_equal(mask[y0:y1, x0:x1], seen[y0 - view[1] : y1 - view[1], x0 - view[0] : x1 - view[0]])
    assert mask[y0:y1, x0:x1].max() == 255


def test_the_whole_frame_roi_changes_nothing(engine: CutoutEngine, coffee: Image.Image) -> None:
    whole = engine.predict_mask(coffee, Roi.parse("0% 0% 100% 100%"))
    assert np.array_equal(whole, engine.predict_mask(coffee))


def test_a_roi_around_a_small_subject_finds_it_better(engine: CutoutEngine, shared_data: Path) -> None:
    """SOD 3096 (a plane, small in a wide sky): the gt box plus 5% as ROI beats the whole frame."""
    root = shared_data / "sod300"
    image = decode_image(root / "images" / "3096.jpg")
    truth = np.asarray(Image.open(root / "masks" / "3096.png").convert("L"))
    ys, xs = np.nonzero(truth > 127)
    roi = Roi.parse(f"{xs.min() - 5}px {ys.min() - 5}px {xs.max() + 6}px {ys.max() + 6}px")
    assert mask_iou(engine.predict_mask(image, roi), truth) > mask_iou(engine.predict_mask(image), truth)


def test_a_roi_beyond_the_photo_is_an_error(engine: CutoutEngine, coffee: Image.Image) -> None:
    with pytest.raises(RoiError, match="leaves no pixel"):
        engine.predict_mask(coffee, Roi.parse("900px 0px 1000px 10px"))
