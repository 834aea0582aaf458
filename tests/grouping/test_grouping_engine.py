"""The engine end to end on real photos with the fetched models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from bgremover.grouping import GroupingEngine


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> GroupingEngine:
    return GroupingEngine.from_settings(model_dir)


def _hue_rotated(image: Image.Image) -> Image.Image:
    hsv = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + 60) % 180).astype(np.uint8)
    return Image.fromarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def test_copies_and_mirror_join_a_colourway_and_another_product_stay_apart(
    engine: GroupingEngine, shared_data: Path
) -> None:
    juice = shared_data / "grocery_val/val/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_001.jpg"
    photo = Image.open(juice).convert("RGB")
    other = Image.open(shared_data / "formats" / "coffee.png").convert("RGB")
    images = [photo, other, ImageOps.mirror(photo), _hue_rotated(photo), photo.copy()]
    groups = engine.group(images)
    by_member = {i: g for g in groups for i in g.members}
    assert sorted(i for g in groups for i in g.members) == [0, 1, 2, 3, 4]
    assert by_member[0] is by_member[2] is by_member[4]
    assert by_member[3] is not by_member[0]
    assert by_member[1] is not by_member[0]
    assert by_member[0].representative in (0, 2, 4)


def test_stages_run_separately_and_one_image_yields_one_group(
    engine: GroupingEngine, shared_data: Path
) -> None:
    image = Image.open(shared_data / "formats" / "chelsea.png").convert("RGB")
    mask = np.zeros((image.height, image.width), np.uint8)
    mask[50:250, 100:300] = 255
    descriptors = engine.describe([engine.view(image, mask)])
    assert descriptors.shape[0] == 1
    assert np.linalg.norm(descriptors[0]) == pytest.approx(1.0, abs=1e-5)
    groups = engine.cluster(descriptors)
    assert [(g.members, g.representative) for g in groups] == [((0,), 0)]
    assert engine.cluster(descriptors[:0]) == []
