"""Choosing one object among several, and the guarded second pass, on scripted probability maps."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from PIL import Image

from bgremover.cutout.engine import CutoutEngine, SecondPass
from bgremover.cutout.subject import Components, select_subject


def _map(*boxes: tuple[int, int, int, int], size: tuple[int, int] = (200, 300)) -> np.ndarray:
    prob = np.zeros(size, np.float32)
    for x0, y0, x1, y1 in boxes:
        prob[y0:y1, x0:x1] = 0.9
    return prob


BIG_CORNER = (0, 0, 120, 120)  # 14,400 px, far from the centre of a 300x200 frame
SMALL_CENTRE = (140, 90, 160, 110)  # 400 px, at the centre


def test_all_keeps_every_object() -> None:
    prob = _map(BIG_CORNER, SMALL_CENTRE)
    assert select_subject(prob, "all") is prob


def test_largest_keeps_the_biggest_object_only() -> None:
    kept = select_subject(_map(BIG_CORNER, SMALL_CENTRE), "largest")
    assert np.array_equal(kept > 0.5, _map(BIG_CORNER) > 0.5)


def test_central_keeps_the_object_nearest_the_centre() -> None:
    kept = select_subject(_map(BIG_CORNER, SMALL_CENTRE), "central")
    assert np.array_equal(kept > 0.5, _map(SMALL_CENTRE) > 0.5)


def test_the_chosen_object_keeps_its_soft_edge_and_far_haze_is_cleared() -> None:
    prob = _map(SMALL_CENTRE, BIG_CORNER)
    prob[89, 140:160] = 0.3  # soft edge next to the small object
    prob[199, 299] = 0.3  # haze in a far corner
    kept = select_subject(prob, "central")
    assert kept[89, 150] == pytest.approx(0.3)
    assert kept[199, 299] == 0


def test_one_object_is_left_alone() -> None:
    single = _map(BIG_CORNER)
    assert np.array_equal(select_subject(single, "central"), single)
    assert Components.of(single).count == 1


def test_pieces_of_one_object_stay_together() -> None:
    """A leg 4 px below its body (the halo of a 300x200 frame is 7 px) is part of the same object."""
    body, leg, far = (200, 20, 260, 80), (220, 84, 230, 130), (10, 150, 30, 170)
    parts = Components.of(_map(body, leg, far))
    assert parts.count == 2
    kept = select_subject(_map(body, leg, far), "largest")
    assert np.array_equal(kept > 0.5, _map(body, leg) > 0.5)
    assert parts.centroids[parts.largest()] == pytest.approx((228.93, 55.96), abs=0.01)


class ScriptedSession:
    """Test double of :class:`SegmentationSession`'s ``predict``: returns the scripted maps in order
    (each already at the size of the image it is given) and counts the calls."""

    def __init__(self, *maps: np.ndarray) -> None:
        self.maps = deque(maps)
        self.calls: list[tuple[int, int]] = []

    def predict(self, image: Image.Image) -> np.ndarray:
        self.calls.append(image.size)
        return self.maps.popleft()


PHOTO = Image.new("RGB", (300, 200))
GUARDED = SecondPass(enabled=True)


def _engine(session: ScriptedSession, second_pass: SecondPass = GUARDED) -> CutoutEngine:
    return CutoutEngine(session, second_pass)  # type: ignore[arg-type]


def test_a_closer_look_that_agrees_is_averaged_in() -> None:
    first = _map((130, 80, 170, 120))  # one small object; its box padded by 10 px: (120, 70)-(180, 130)
    closer = np.zeros((60, 60), np.float32)
    closer[10:50, 10:50] = 0.5
    session = ScriptedSession(first, closer)
    prob = _engine(session).predict_probability(PHOTO)
    assert session.calls == [(300, 200), (60, 60)]
    assert prob[100, 150] == pytest.approx((0.9 + 0.5) / 2)


def test_a_closer_look_that_disagrees_is_dropped() -> None:
    first = _map((130, 80, 170, 120))
    closer = np.zeros((60, 60), np.float32)
    closer[0:10, 0:10] = 1.0  # found something else in the corner of the box
    session = ScriptedSession(first, closer)
    prob = _engine(session).predict_probability(PHOTO)
    assert len(session.calls) == 2
    assert np.array_equal(prob, first)


def test_the_unguarded_second_pass_takes_any_closer_look() -> None:
    first = _map((130, 80, 170, 120))
    closer = np.zeros((60, 60), np.float32)
    unguarded = SecondPass(enabled=True, min_agreement=0)
    prob = _engine(ScriptedSession(first, closer), unguarded).predict_probability(PHOTO)
    assert prob[100, 150] == pytest.approx(0.45)


def test_with_a_roi_the_subject_is_chosen_inside_the_roi_not_in_its_context_margin() -> None:
    """A box drawn around a small product beside a big object: the big one, mostly in the context margin
    the model also sees, must not win ``largest`` and clear the product."""
    from bgremover.cutout.roi import Roi

    roi = Roi.parse("100px 50px 200px 150px")
    view = Roi.around(roi.box(300, 200), 300, 200, 0.25).box(300, 200)
    vx0, vy0, vx1, vy1 = view
    seen = np.zeros((vy1 - vy0, vx1 - vx0), np.float32)
    seen[:, : 100 + 3 - vx0] = 0.9  # a big object, 3 px of it inside the ROI
    seen[85 - vy0 : 115 - vy0, 135 - vx0 : 165 - vx0] = 0.9  # the product, 30 x 30 inside the ROI
    engine = CutoutEngine(ScriptedSession(seen), SecondPass(enabled=False), subject="largest")  # type: ignore[arg-type]
    prob = engine.predict_probability(PHOTO, roi)
    assert prob[100, 150] == pytest.approx(0.9)  # the product kept
    assert prob[100, 101] == 0  # the big object's sliver inside the ROI cleared
    assert prob[:, :100].max() == 0 and prob[:, 200:].max() == 0  # nothing outside the ROI
