"""Water level on a staff gauge: the fast change point equals the plain one; on the synthetic
river (waves, noise, lighting drift, JPEG) the level is within a few cm of the truth; a zone
without a waterline gives a low confidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adapters.camera.analysis import CameraAnalyser
from adapters.camera.geometry import LevelCalibration, polygon_mask
from adapters.camera.water import WaterLevelEstimator, best_split, best_split_reference, find_waterline
from firmware_sim.camera_scenes import RiverScene
from tests.adapters.camera.support import river_camera


@given(arrays(np.float64, st.tuples(st.integers(4, 40), st.integers(1, 3)), elements=st.floats(-100, 100)),
       st.integers(1, 5))
def test_fast_split_equals_the_reference(profile: np.ndarray, min_segment: int) -> None:
    fast = best_split(profile, min_segment)
    if len(profile) < 2 * min_segment:
        assert fast[0] == -1
        return
    reference = best_split_reference(profile, min_segment)
    assert fast[1] == pytest.approx(reference[1], rel=1e-6, abs=1e-6)
    assert fast[2] == pytest.approx(reference[2], rel=1e-9, abs=1e-9)
    # Ties within rounding may pick another split of the same cost.
    if fast[0] != reference[0]:
        above, below = profile[: fast[0]], profile[fast[0]:]
        cost = ((above - above.mean(0)) ** 2).sum() + ((below - below.mean(0)) ** 2).sum()
        assert cost == pytest.approx(reference[1], rel=1e-6, abs=1e-6)


def test_a_clean_step_is_found_exactly() -> None:
    profile = np.concatenate([np.full((30, 2), 1.0), np.full((20, 2), -1.0)])
    assert best_split(profile, 2)[:2] == (30, 0.0)


def _gauge_zone(scene: RiverScene) -> np.ndarray:
    return polygon_mask([(scene.gauge_left - 0.005, scene.gauge_top - 0.02), (scene.gauge_right + 0.005, scene.gauge_top - 0.02),
                         (scene.gauge_right + 0.005, scene.gauge_bottom + 0.03),
                         (scene.gauge_left - 0.005, scene.gauge_bottom + 0.03)], scene.width, scene.height)


@pytest.mark.parametrize(("width", "height", "tolerance_cm"), [(640, 360, 5.0), (320, 180, 7.0)])
def test_level_within_a_few_cm_through_a_flood_wave(width: int, height: int, tolerance_cm: float) -> None:
    scene = RiverScene(width=width, height=height, seed=7)
    calibration = LevelCalibration.from_marks([(y, level) for _, y, level in scene.gauge_marks()])
    estimator = WaterLevelEstimator(calibration, smoothing_frames=1)
    zone = _gauge_zone(scene)
    errors, confidences = [], []
    for t_s in np.arange(0.0, 240.0, 6.1):  # the whole wave: 50 cm up to 230 cm and back
        frame = scene.frame(float(t_s))
        estimate = estimator.update(frame.image, zone)
        assert estimate is not None
        errors.append(estimate.level_cm - frame.truth["level_cm"])
        confidences.append(estimate.confidence)
    errors_cm = np.abs(errors)
    assert np.median(errors_cm) <= tolerance_cm / 2
    assert errors_cm.max() <= tolerance_cm
    assert min(confidences) >= 0.8


def test_lighting_drift_does_not_move_the_waterline() -> None:
    scene = RiverScene(width=320, height=180, seed=2, lighting_drift=0.0)
    zone = _gauge_zone(scene)
    frame = scene.render(30.0)[0]
    darker = (frame.astype(np.float32) * 0.45 + 5).astype(np.uint8)  # dusk
    brighter = np.clip(frame.astype(np.float32) * 1.3 + 20, 0, 255).astype(np.uint8)  # low sun
    rows = [find_waterline(image, zone).row for image in (frame, darker, brighter)]  # type: ignore[union-attr]
    assert max(rows) - min(rows) <= 1.0


def test_a_zone_of_plain_water_has_no_confident_waterline() -> None:
    rng = np.random.default_rng(4)
    water = np.clip(rng.normal((70, 100, 95), 6, (180, 320, 3)), 0, 255).astype(np.uint8)
    zone = np.zeros((180, 320), bool)
    zone[10:170, 150:180] = True
    line = find_waterline(water, zone)
    assert line is not None and line.confidence < 0.3


def test_a_tiny_zone_gives_nothing() -> None:
    zone = np.zeros((180, 320), bool)
    zone[10:14, 150:160] = True
    assert find_waterline(np.zeros((180, 320, 3), np.uint8), zone) is None


def test_analyser_reports_the_median_level_of_the_interval_as_a_whole_view_detection() -> None:
    scene = RiverScene(width=320, height=180, seed=5, swing_cm=0.0, base_cm=180.0)
    camera = river_camera(scene)
    analyser = CameraAnalyser(camera)
    for t_s in range(6):
        analyser.analyse(scene.frame(float(t_s)).image, float(t_s))
    (detection,) = analyser.report(1_795_611_600_000)
    assert (detection.kind, detection.camera, detection.zone) == ("camera_water", "cam-river", None)
    assert detection.values["level_cm"] == pytest.approx(180.0, abs=5.0)
    assert detection.values["confidence"] >= 0.8
    assert detection.objects[0]["zone"] == "gauge"
    # With no new frame, the next report repeats the last estimate rather than going silent.
    (again,) = analyser.report(1_795_611_610_000)
    assert again.values["level_cm"] == pytest.approx(detection.values["level_cm"], abs=5.0)


def test_analyser_scales_frames_to_the_analysis_width() -> None:
    scene = RiverScene(width=640, height=360, seed=6, swing_cm=0.0, base_cm=100.0)
    camera = river_camera(RiverScene(width=320, height=180))
    analyser = CameraAnalyser(camera)
    result = analyser.analyse(scene.frame(0.0).image, 0.0)
    assert result.water is not None and result.water.level_cm == pytest.approx(100.0, abs=6.0)
    assert analyser.geometry(320, 180).zones["gauge"].shape == (180, 320)


def test_low_confidence_reports_only_the_confidence() -> None:
    scene = RiverScene(width=320, height=180)
    camera = river_camera(scene)
    analyser = CameraAnalyser(camera)
    flat = np.full((180, 320, 3), 90, np.uint8)
    analyser.analyse(flat, 0.0)
    (detection,) = analyser.report(1_795_611_600_000)
    assert set(detection.values) == {"confidence"}
    assert detection.values["confidence"] < camera.water_level.min_confidence  # type: ignore[union-attr]
