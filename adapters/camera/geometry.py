"""Image geometry of a camera: zone and mask polygons (frame-relative) rasterised at the analysis
resolution, and the staff-gauge calibration that turns an image row into a level in cm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def polygon_mask(polygon: Sequence[tuple[float, float]], width: int, height: int) -> np.ndarray:
    """A boolean (height, width) mask of the pixels inside `polygon`, given in fractions 0..1 of the
    frame's width and height."""
    canvas = np.zeros((height, width), np.uint8)
    points = np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in polygon], np.int32)
    cv2.fillPoly(canvas, [points], 1)
    return canvas.astype(bool)


@dataclass(frozen=True, slots=True)
class FrameGeometry:
    """Zone masks and the union of the ignore masks at one analysis resolution. Zone masks already
    exclude the ignored pixels."""

    width: int
    height: int
    zones: dict[str, np.ndarray]
    ignored: np.ndarray

    @property
    def analysed(self) -> np.ndarray:
        """Pixels not ignored."""
        return ~self.ignored


def frame_geometry(
    zones: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    masks: Sequence[Sequence[tuple[float, float]]],
    width: int,
    height: int,
) -> FrameGeometry:
    """Rasterise named zones and ignore masks for frames of `width` × `height` pixels."""
    ignored = np.zeros((height, width), bool)
    for polygon in masks:
        ignored |= polygon_mask(polygon, width, height)
    zone_masks = {name: polygon_mask(polygon, width, height) & ~ignored for name, polygon in zones}
    return FrameGeometry(width, height, zone_masks, ignored)


@dataclass(frozen=True, slots=True)
class LevelCalibration:
    """Image height → gauge reading, from two or more surveyed marks.

    Between marks the level is interpolated linearly (piecewise, which absorbs the perspective of
    a camera looking down at the gauge); beyond the outermost marks the nearest segment is
    extended. `y` is a fraction 0..1 of the frame height, growing downwards."""

    y: tuple[float, ...]
    level_cm: tuple[float, ...]

    @classmethod
    def from_marks(cls, marks: Sequence[tuple[float, float]]) -> LevelCalibration:
        """From (y, level_cm) pairs in any order; y must be distinct and levels fall as y grows."""
        ordered = sorted(marks)
        if len(ordered) < 2:
            raise ValueError("a calibration needs at least two marks")
        ys = tuple(float(y) for y, _ in ordered)
        levels = tuple(float(level) for _, level in ordered)
        if any(b <= a for a, b in zip(ys, ys[1:], strict=False)):
            raise ValueError("marks must be at distinct heights")
        if any(b >= a for a, b in zip(levels, levels[1:], strict=False)):
            raise ValueError("levels must fall as the marks go down the image")
        return cls(ys, levels)

    def level_at(self, y: float) -> float:
        """The level in cm at image height `y` (fraction of frame height)."""
        ys, levels = self.y, self.level_cm
        if y <= ys[0]:
            i = 0
        elif y >= ys[-1]:
            i = len(ys) - 2
        else:
            return float(np.interp(y, ys, levels))
        slope = (levels[i + 1] - levels[i]) / (ys[i + 1] - ys[i])
        return levels[i] + slope * (y - ys[i])
