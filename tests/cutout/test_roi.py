"""The ``roi`` option in remove.bg's form: parsing with precise errors, and its rectangle on a photo."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bgremover.cutout.options import CutoutOptions
from bgremover.cutout.roi import WHOLE_FRAME, Roi, RoiError, normalise_roi


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("0% 0% 100% 100%", "0% 0% 100% 100%"),
        ("10PX  20px\t300.0px 400px", "10px 20px 300px 400px"),
        ("12.5% .5% 87.5% 99.25%", "12.5% 0.5% 87.5% 99.25%"),
        ("50% 0px 10px 100%", "50% 0px 10px 100%"),  # mixed units: checked against each photo
    ],
)
def test_valid_rois_are_normalised(given: str, canonical: str) -> None:
    assert normalise_roi(given) == canonical
    assert CutoutOptions(roi=given).roi == canonical


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("10px 10px 20px", "four values 'x1 y1 x2 y2'"),
        ("10px 10px 20px 20px 30px", "got 5"),
        ("10 10px 20px 20px", "roi x1 '10' must be a non-negative number followed by 'px' or '%'"),
        ("10px -1px 20px 20px", "roi y1 '-1px'"),
        ("10px 10px 20em 20px", "roi x2 '20em'"),
        ("0% 0% 100.5% 100%", "roi x2 '100.5%' is over 100%"),
        ("50% 0% 40% 100%", "roi x2 (40%) must be greater than x1 (50%)"),
        ("0px 30px 10px 30px", "roi y2 (30px) must be greater than y1 (30px)"),
        ("", "got 0"),
    ],
)
def test_invalid_rois_name_what_is_wrong(given: str, message: str) -> None:
    with pytest.raises(RoiError, match=r"^roi") as error:
        normalise_roi(given)
    assert message in str(error.value)
    with pytest.raises(ValidationError, match="roi"):
        CutoutOptions(roi=given)


def test_a_roi_must_be_text() -> None:
    with pytest.raises(RoiError, match="must be a string"):
        normalise_roi([0, 0, 10, 10])


def test_the_default_is_the_whole_frame() -> None:
    assert CutoutOptions().roi == WHOLE_FRAME
    assert CutoutOptions().region.whole_frame
    assert not Roi.parse("0% 0% 100% 99%").whole_frame
    assert Roi.parse("0px 0px 100% 100%").whole_frame  # 0px is 0%: every pixel of any photo
    assert Roi.parse("0% 0% 100% 100%").box(640, 427) == (0, 0, 640, 427)


@pytest.mark.parametrize(
    ("roi", "box"),
    [
        ("10px 20px 190px 80px", (10, 20, 190, 80)),
        ("25% 50% 75% 100%", (50, 50, 150, 100)),
        ("10px 10% 50% 90px", (10, 10, 100, 90)),
        ("150px 0px 900px 900px", (150, 0, 200, 100)),  # clamped to the photo
        ("0.4px 0% 10.6px 10%", (0, 0, 11, 10)),
    ],
)
def test_box_on_a_photo(roi: str, box: tuple[int, int, int, int]) -> None:
    assert Roi.parse(roi).box(200, 100) == box


@pytest.mark.parametrize("roi", ["300px 0px 400px 50px", "0px 0px 100% 0.2px", "60% 0% 100px 100%"])
def test_a_roi_that_leaves_nothing_of_the_photo_is_an_error(roi: str) -> None:
    with pytest.raises(RoiError, match="leaves no pixel of the 200x100 image"):
        Roi.parse(roi).box(200, 100)


def test_a_roi_around_a_box_adds_the_margin_within_the_photo() -> None:
    assert str(Roi.around((50, 20, 150, 60), 200, 100, 0.05)) == "45px 18px 155px 62px"
    assert str(Roi.around((0, 0, 200, 100), 200, 100, 0.05)) == "0px 0px 200px 100px"
