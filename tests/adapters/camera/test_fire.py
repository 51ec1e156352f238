"""Fire and smoke: flame colour per Chen et al., flicker beyond the zone's common change, the
synthetic slope (a fire found within seconds of ignition, smoke rising above it) and the dusk
street with steady red and orange lights (never a fire)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adapters.camera.analysis import CameraAnalyser
from adapters.camera.fire import (
    FireSmokeDetector, flame_colour_mask, flickering, smoke_colour_mask, smoke_colour_mask_reference,
)
from adapters.camera.messages import detection_message
from firmware_sim.camera_scenes import FireScene, LightsScene
from tests.adapters.camera.support import site_with_cameras

FIRE_THRESHOLD = 0.6  # the Kazanlak forest-fire rule's `at_least`


def _pixel(b: int, g: int, r: int) -> np.ndarray:
    return np.array([[[b, g, r]]], np.uint8)


@pytest.mark.parametrize(("bgr", "flame"), [
    ((40, 160, 250), True),  # orange flame
    ((120, 230, 255), True),  # yellow flame core
    ((30, 30, 230), False),  # pure red: G > B fails (tail light)
    ((200, 200, 200), False),  # white-grey
    ((60, 100, 120), False),  # dim brown earth: R below R_T
    ((50, 120, 90), False),  # forest green
])
def test_flame_colour(bgr: tuple[int, int, int], flame: bool) -> None:
    assert bool(flame_colour_mask(_pixel(*bgr))[0, 0]) is flame


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_flame_colour_is_red_dominant_and_bright(b: int, g: int, r: int) -> None:
    if flame_colour_mask(_pixel(b, g, r))[0, 0]:
        assert r > 135 and r >= g > b


@pytest.mark.parametrize(("bgr", "smoke"), [((170, 172, 175), True), ((60, 60, 62), False),
                                            ((250, 250, 250), False), ((200, 150, 100), False)])
def test_smoke_colour(bgr: tuple[int, int, int], smoke: bool) -> None:
    assert bool(smoke_colour_mask(_pixel(*bgr))[0, 0]) is smoke


@given(arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(3))))
def test_fast_smoke_colour_equals_the_reference(frame: np.ndarray) -> None:
    assert (smoke_colour_mask(frame) == smoke_colour_mask_reference(frame)).all()


def test_flicker_ignores_a_common_gain_but_sees_a_pixel_that_varies_alone() -> None:
    rng = np.random.default_rng(3)
    base = rng.uniform(60, 200, (20, 20)).astype(np.float32)
    gains = np.array([1.0, 1.3, 0.8, 1.2, 0.9], np.float32)
    lumas = np.stack([base * g for g in gains])
    lumas[:, 5, 5:7] = np.array([[40, 250, 60, 230, 50]]).T
    lumas[:, 15, 15] = [40, 250, 60, 230, 50]
    zone = np.ones((20, 20), bool)
    result = flickering(lumas, np.ones((20, 20), bool), zone, 16.0)
    # The pair flickers; the lone pixel is taken for noise.
    assert result[5, 5] and result[5, 6] and result.sum() == 2


def _scores(scene, fps: float, seconds: float, zones=None) -> list[tuple[float, float, float]]:
    detector = FireSmokeDetector(8, 16.0, 0.0003, 0.004)
    zones = zones or {None: np.ones((scene.height, scene.width), bool)}
    out = []
    for t_s in np.arange(0.0, seconds, 1.0 / fps):
        score = detector.update(scene.frame(float(t_s)).image, zones)[0]
        out.append((float(t_s), score.fire_score, score.smoke_score))
    return out


@pytest.mark.parametrize(("width", "height", "fps"), [(320, 180, 1.0), (320, 180, 2.0), (640, 360, 1.0)])
def test_a_fire_is_found_within_seconds_of_ignition(width: int, height: int, fps: float) -> None:
    scene = FireScene(width=width, height=height, seed=11, ignition_s=5.0)
    scores = _scores(scene, fps, 16.0)
    assert all(fire == 0.0 for t, fire, _ in scores if t < scene.ignition_s)
    first = next(t for t, fire, _ in scores if fire >= FIRE_THRESHOLD)
    assert first - scene.ignition_s <= 4.0
    assert all(fire >= FIRE_THRESHOLD for t, fire, _ in scores if t >= first + 2)
    smoky = next(t for t, _, smoke in scores if smoke >= 0.7)
    assert smoky - scene.ignition_s <= 6.0


@pytest.mark.parametrize(("width", "height", "fps", "seed"), [(320, 180, 1.0, 1), (320, 180, 2.0, 2), (640, 360, 1.0, 3)])
def test_steady_red_and_orange_lights_are_never_a_fire(width: int, height: int, fps: float, seed: int) -> None:
    scores = _scores(LightsScene(width=width, height=height, seed=seed), fps, 40.0)
    assert max(fire for _, fire, _ in scores) < 0.1
    assert max(smoke for _, _, smoke in scores) < 0.1


def _fire_camera(extra: str = ""):
    return site_with_cameras(f"""
  - id: cam-slope
    area: centre
    location: {{lat: 42.7, lon: 25.3}}
    detectors: [fire_smoke]
    analysis_fps: 1
    analysis_width: 320
    zones: [{{name: east, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
            {{name: west, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}}]
{extra}""").cameras[0]


def test_scores_per_zone_and_for_the_whole_view() -> None:
    scene = FireScene(width=320, height=180, seed=4, ignition_s=1.0, fire_x=0.75)
    analyser = CameraAnalyser(_fire_camera())
    for t_s in range(10):
        analyser.analyse(scene.frame(float(t_s)).image, float(t_s))
    detections = {d.zone: d for d in analyser.report(1_795_611_600_000)}
    assert set(detections) == {None, "east", "west"}
    assert detections[None].values["fire_score"] >= FIRE_THRESHOLD
    assert detections["east"].values["fire_score"] >= FIRE_THRESHOLD
    assert detections["west"].values["fire_score"] < 0.1
    for detection in detections.values():
        assert orjson.loads(detection_message("ews/kz", detection)[1])["zone"] == detection.zone
    flame = next(o for o in detections["east"].objects if o["type"] == "flame")
    x, y, w, h = flame["bbox"]  # type: ignore[misc]
    assert x <= 0.75 <= x + w and y <= 0.62 <= y + h


def test_a_fire_under_a_mask_is_not_seen() -> None:
    scene = FireScene(width=320, height=180, seed=4, ignition_s=1.0, fire_x=0.75)
    camera = _fire_camera("    masks: [{name: chimney, polygon: [[0.6, 0.3], [0.95, 0.3], [0.95, 0.9], [0.6, 0.9]]}]")
    analyser = CameraAnalyser(camera)
    for t_s in range(10):
        analyser.analyse(scene.frame(float(t_s)).image, float(t_s))
    assert all(d.values["fire_score"] < 0.1 for d in analyser.report(1_795_611_600_000))


def test_the_motion_gate_spares_the_detectors_on_a_still_scene_and_opens_at_ignition() -> None:
    camera = _fire_camera("    motion: {idle_interval_s: 1000}")
    still = CameraAnalyser(camera)
    results = [still.analyse(LightsScene(width=320, height=180).frame(float(t)).image, float(t)) for t in range(6)]
    assert [r.gate.run for r in results] == [True, False, False, False, False, False]
    assert all(r.inference_ms == 0.0 and not r.fire for r in results[1:])
    assert all(d.values["fire_score"] == 0.0 for d in still.report(1_795_611_600_000))
    burning = CameraAnalyser(camera)
    scene = FireScene(width=320, height=180, seed=4, ignition_s=3.0)
    gates = [burning.analyse(scene.frame(float(t)).image, float(t)).gate for t in range(6)]
    assert [g.run for g in gates] == [True, False, False, True, True, True]
