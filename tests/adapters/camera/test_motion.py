"""The motion gate: changed pixels, not lighting; runs on motion and at least every idle interval."""

from __future__ import annotations

import numpy as np

from adapters.camera.motion import MotionGate, changed_fraction


def _scene(brightness: int = 100, square_at: int | None = None) -> np.ndarray:
    frame = np.full((90, 160, 3), brightness, np.uint8)
    if square_at is not None:
        frame[30:50, square_at : square_at + 20] = 250
    return frame


def test_changed_fraction_counts_pixels_not_a_global_brightness_change() -> None:
    analysed = np.ones((10, 10), bool)
    before = np.full((10, 10), 100, np.uint8)
    brighter = before + 40
    assert changed_fraction(before, brighter, analysed, 12) == 0.0
    moved = before.copy()
    moved[:2, :5] = 200
    assert changed_fraction(before, moved, analysed, 12) == 0.1


def test_masked_motion_does_not_count() -> None:
    analysed = np.ones((10, 10), bool)
    analysed[:2] = False
    before = np.full((10, 10), 100, np.uint8)
    moved = before.copy()
    moved[:2] = 250
    assert changed_fraction(before, moved, analysed, 12) == 0.0


def test_gate_runs_first_on_motion_and_when_idle_too_long() -> None:
    gate = MotionGate(pixel_threshold=12, min_changed_fraction=0.001, idle_interval_s=10.0)
    ignored = np.zeros((90, 160), bool)
    decisions = [
        gate.decide(_scene(), ignored, 0.0),
        gate.decide(_scene(), ignored, 1.0),
        gate.decide(_scene(130), ignored, 2.0),  # the light changed, nothing moved
        gate.decide(_scene(130, square_at=40), ignored, 3.0),
        gate.decide(_scene(130, square_at=40), ignored, 4.0),
        gate.decide(_scene(130, square_at=40), ignored, 14.0),
    ]
    assert [d.reason for d in decisions] == ["first", "still", "still", "motion", "still", "idle"]
    assert [d.run for d in decisions] == [True, False, False, True, False, True]


def test_motion_inside_a_mask_does_not_open_the_gate() -> None:
    gate = MotionGate(pixel_threshold=12, min_changed_fraction=0.001, idle_interval_s=100.0)
    ignored = np.zeros((90, 160), bool)
    ignored[:, :80] = True
    gate.decide(_scene(), ignored, 0.0)
    assert not gate.decide(_scene(square_at=20), ignored, 1.0).run
    assert gate.decide(_scene(square_at=110), ignored, 2.0).run


def test_a_disabled_gate_runs_every_frame() -> None:
    gate = MotionGate(12, 0.5, 100.0, enabled=False)
    ignored = np.zeros((90, 160), bool)
    assert all(gate.decide(_scene(), ignored, float(t)).run for t in range(5))
