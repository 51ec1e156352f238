"""Zones, masks and the staff-gauge calibration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.camera.geometry import LevelCalibration, frame_geometry, polygon_mask


def test_polygon_mask_covers_the_rectangle_it_names() -> None:
    mask = polygon_mask([(0.25, 0.5), (0.75, 0.5), (0.75, 1.0), (0.25, 1.0)], 41, 21)
    rows, columns = np.nonzero(mask)
    assert (rows.min(), rows.max()) == (10, 20)
    assert (columns.min(), columns.max()) == (10, 30)
    assert mask.sum() == 11 * 21


def test_zones_exclude_masked_pixels() -> None:
    geometry = frame_geometry(
        [("slope", [(0, 0), (1, 0), (1, 1), (0, 1)])], [[(0, 0), (0.5, 0), (0.5, 1), (0, 1)]], 20, 10
    )
    # The mask's right edge, x = 0.5, falls on column 10 of 0..19.
    assert geometry.zones["slope"][:, :11].sum() == 0
    assert geometry.zones["slope"][:, 11:].all()
    assert (geometry.analysed == ~geometry.ignored).all()


def test_two_marks_give_a_straight_line_extended_beyond_them() -> None:
    calibration = LevelCalibration.from_marks([(0.9, 0.0), (0.1, 400.0)])
    assert calibration.level_at(0.5) == pytest.approx(200.0)
    assert calibration.level_at(0.0) == pytest.approx(450.0)
    assert calibration.level_at(1.0) == pytest.approx(-50.0)


def test_three_marks_interpolate_piecewise() -> None:
    calibration = LevelCalibration.from_marks([(0.1, 400.0), (0.5, 200.0), (0.9, 0.0)][::-1])
    assert calibration.level_at(0.3) == pytest.approx(300.0)
    # The perspective of a camera looking down: the upper segment is shorter in the image.
    steep = LevelCalibration.from_marks([(0.1, 300.0), (0.3, 200.0), (0.9, 0.0)])
    assert steep.level_at(0.2) == pytest.approx(250.0)
    assert steep.level_at(0.6) == pytest.approx(100.0)


@pytest.mark.parametrize("marks", [[(0.5, 100.0)], [(0.2, 100.0), (0.2, 50.0)], [(0.2, 50.0), (0.8, 100.0)]])
def test_unusable_marks_are_refused(marks: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError):
        LevelCalibration.from_marks(marks)


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(-200, 3000)), min_size=2, max_size=6,
                unique_by=(lambda m: m[0], lambda m: m[1])),
       st.floats(-0.5, 1.5))
def test_calibration_passes_through_its_marks_and_falls_down_the_image(
    raw: list[tuple[float, float]], y: float
) -> None:
    ys = sorted(m[0] for m in raw)
    levels = sorted((m[1] for m in raw), reverse=True)
    if any(b - a < 1e-6 for a, b in zip(ys, ys[1:], strict=False)) or any(
        a - b < 1e-6 for a, b in zip(levels, levels[1:], strict=False)
    ):
        return
    calibration = LevelCalibration.from_marks(list(zip(ys, levels, strict=True)))
    for mark_y, level in zip(ys, levels, strict=True):
        assert calibration.level_at(mark_y) == pytest.approx(level, abs=1e-6 * max(1.0, abs(level)))
    assert calibration.level_at(y) >= calibration.level_at(y + 0.01) - 1e-6
