"""The synthetic camera scenes: reproducible frames, ground truth that matches what is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.camera_scenes import FireScene, LightsScene, RiverScene, make_scene


def test_frames_are_a_pure_function_of_time() -> None:
    scene = RiverScene(width=160, height=90)
    assert scene.frame(12.5).jpeg == RiverScene(width=160, height=90).frame(12.5).jpeg
    assert scene.frame(12.5).jpeg != scene.frame(13.0).jpeg


def test_the_river_rises_and_falls_and_the_gauge_marks_match_the_drawing() -> None:
    scene = RiverScene(width=320, height=180, swing_cm=60.0, base_cm=150.0, period_s=100.0)
    assert scene.level_cm(25.0) == pytest.approx(210.0) and scene.level_cm(75.0) == pytest.approx(90.0)
    marks = scene.gauge_marks(100.0)
    assert [level for _, _, level in marks] == [0.0, 100.0, 200.0, 300.0]
    assert marks[0][1] == pytest.approx(scene.gauge_bottom) and marks[-1][1] == pytest.approx(scene.gauge_top)
    # Below the waterline at the gauge the image is water (dark), above it the white board shows.
    image, truth = RiverScene(width=320, height=180, ripple_cm=0.0, lighting_drift=0.0).render(0.0)
    row = round(scene.y_of_level(truth["level_cm"]) * 179)
    column = round(0.5 * 319)
    assert image[row + 3, column].mean() < 120
    assert image[row - 12 : row - 2, column - 8 : column + 8].max() > 200


def test_the_fire_starts_at_ignition_and_the_lights_scene_never_burns() -> None:
    fire = FireScene(width=160, height=90, ignition_s=5.0)
    assert fire.frame(4.0).truth["fire"] == 0.0 and fire.frame(5.0).truth["fire"] == 1.0
    before, after = fire.render(4.0)[0], fire.render(8.0)[0]
    assert np.abs(before.astype(int) - after.astype(int)).sum() > 0
    lights = LightsScene(width=160, height=90)
    assert all(lights.frame(float(t)).truth["fire"] == 0.0 for t in range(5))


def test_scenes_by_name() -> None:
    assert isinstance(make_scene("fire", 64, 36), FireScene)
    with pytest.raises(ValueError, match="unknown scene 'flood'"):
        make_scene("flood")
