"""The region of interest, in remove.bg's form: ``"x1 y1 x2 y2"``, each coordinate in pixels (``px``)
or in percent of the image's width or height (``%``); ``"0% 0% 100% 100%"`` is the whole photo.

Only the rectangle's contents may be foreground, and the model looks at the rectangle alone, at its
own input resolution: a small product then fills the network's 320x320 view instead of a few pixels
of it. Parsing is pure Python (the HTTP API validates ROIs and must never load NumPy or ONNX); a ROI
in pixels can only be checked against a photo's size when the photo is decoded, by :meth:`Roi.box`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["px", "%"]
WHOLE_FRAME = "0% 0% 100% 100%"
_NAMES = ("x1", "y1", "x2", "y2")
_COORDINATE = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(px|%)$")


class RoiError(ValueError):
    """A ROI that cannot be read, or that leaves nothing of a photo."""


@dataclass(frozen=True, slots=True)
class Coordinate:
    value: float
    unit: Unit

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"

    def pixels(self, extent: int) -> int:
        """This coordinate on an axis of ``extent`` pixels, clamped to it."""
        exact = self.value * extent / 100 if self.unit == "%" else self.value
        return min(extent, max(0, round(exact)))


def _coordinate(token: str, name: str) -> Coordinate:
    match = _COORDINATE.match(token)
    if match is None:
        raise RoiError(
            f"roi {name} {token!r} must be a non-negative number followed by 'px' or '%', e.g. '10px' or '5%'"
        )
    value, unit = float(match.group(1)), match.group(2)
    if unit == "%" and value > 100:
        raise RoiError(f"roi {name} {token!r} is over 100%")
    return Coordinate(value, unit)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Roi:
    x1: Coordinate
    y1: Coordinate
    x2: Coordinate
    y2: Coordinate

    @classmethod
    def parse(cls, text: str) -> Roi:
        """``"x1 y1 x2 y2"`` (whitespace-separated) or raise :class:`RoiError` naming what is wrong."""
        tokens = text.split()
        if len(tokens) != 4:
            raise RoiError(f"roi must be four values 'x1 y1 x2 y2' (e.g. '{WHOLE_FRAME}'), got {len(tokens)}")
        roi = cls(*(_coordinate(token.lower(), name) for token, name in zip(tokens, _NAMES, strict=True)))
        for low, high in ((roi.x1, roi.x2), (roi.y1, roi.y2)):
            if low.unit == high.unit and low.value >= high.value:
                first, second = ("x1", "x2") if low is roi.x1 else ("y1", "y2")
                raise RoiError(f"roi {second} ({high}) must be greater than {first} ({low})")
        return roi

    @classmethod
    def around(cls, box: tuple[int, int, int, int], width: int, height: int, margin: float) -> Roi:
        """A pixel ROI on ``box`` (x0, y0, x1, y1) widened on each side by ``margin`` times the box's
        width and height, within a ``width`` x ``height`` photo: a rectangle drawn around a product."""
        x0, y0, x1, y1 = box
        dx, dy = math.ceil(margin * (x1 - x0)), math.ceil(margin * (y1 - y0))
        left, top, right, bottom = max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)
        return cls.parse(f"{left}px {top}px {right}px {bottom}px")

    def __str__(self) -> str:
        return " ".join(str(c) for c in (self.x1, self.y1, self.x2, self.y2))

    @property
    def whole_frame(self) -> bool:
        """Whether this ROI keeps every photo whole, whatever its size (the default)."""
        starts = all(c.value == 0 for c in (self.x1, self.y1))
        return starts and all(c.unit == "%" and c.value == 100 for c in (self.x2, self.y2))

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels of a ``width`` x ``height`` photo, exclusive end, clamped to it;
        :class:`RoiError` when nothing of the photo is left (a pixel ROI beyond its edge)."""
        x0, x1 = self.x1.pixels(width), self.x2.pixels(width)
        y0, y1 = self.y1.pixels(height), self.y2.pixels(height)
        if x1 <= x0 or y1 <= y0:
            raise RoiError(f"roi '{self}' leaves no pixel of the {width}x{height} image")
        return x0, y0, x1, y1


def normalise_roi(text: object) -> str:
    """The canonical form of a ROI given as text (``"10PX  5% 150.0px 100%"`` -> ``"10px 5% 150px 100%"``)."""
    if not isinstance(text, str):
        raise RoiError(f"roi must be a string 'x1 y1 x2 y2' (e.g. '{WHOLE_FRAME}')")
    return str(Roi.parse(text))
