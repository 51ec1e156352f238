"""Analysed frames per second per core of the camera worker's detectors, at 640×360 and 1280×720:
the water-level detector on the river scene, the fire and smoke detector on the burning slope,
and the whole motion-gated analysis of a camera (gate, then the detector when the gate opens) on
a scene with motion (the fire) and one without (the dusk street, where the gate stays shut).

OpenCV is held to one thread so that the figures are per core. Frames are rendered (and JPEG
round-tripped) before the clock starts. The limit measured in the same run is JPEG decoding of
the same frames, the least work a worker does per analysed frame: the ratio says how many frames
the analysis costs per frame decoded (above 1: the analysis is cheaper than decoding)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from adapters.camera.analysis import CameraAnalyser
from adapters.camera.fire import FireSmokeDetector
from adapters.camera.geometry import LevelCalibration, polygon_mask
from adapters.camera.water import WaterLevelEstimator
from bench import BenchResult, Row
from firmware_sim.camera_scenes import FireScene, LightsScene, RiverScene, Scene
from hub.config import parse_config


@dataclass(frozen=True)
class CameraSettings:
    """What to measure and how much."""

    sizes: tuple[tuple[int, int], ...] = ((640, 360), (1280, 720))
    frames: int = 24  # distinct frames rendered per scene, cycled through
    seconds: float = 2.0  # timed per figure


def _rate(frames: list[np.ndarray], step: Callable[[np.ndarray, float], object], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while True:
        for frame in frames:
            step(frame, count * 0.5)
            count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count / elapsed


def _render(scene: Scene, count: int, start_s: float = 0.0) -> tuple[list[np.ndarray], list[bytes]]:
    rendered = [scene.frame(start_s + 0.5 * i) for i in range(count)]
    return [f.image for f in rendered], [f.jpeg for f in rendered]


def _camera(width: int, detectors: str, river: RiverScene) -> CameraAnalyser:
    marks = ", ".join(f"{{x: {x:.4f}, y: {y:.5f}, level_cm: {level:g}}}" for x, y, level in river.gauge_marks())
    config = parse_config(f"""
site: {{id: bench, name: Bench}}
areas: [{{id: a, name: A, type: zone}}]
cameras:
  - id: cam
    area: a
    location: {{lat: 42.6, lon: 25.4}}
    detectors: [{detectors}]
    analysis_width: {width}
    motion: {{idle_interval_s: 1000000}}
    zones: [{{name: gauge, polygon: [[0.46, 0.06], [0.56, 0.06], [0.56, 0.98], [0.46, 0.98]]}}]
    water_level: {{zone: gauge, marks: [{marks}]}}
""")
    return CameraAnalyser(config.cameras[0])


def run(settings: CameraSettings) -> BenchResult:
    """Measure every figure at every size."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    rows: list[Row] = []
    details: dict[str, object] = {}
    try:
        for width, height in settings.sizes:
            size = f"{width}x{height}"
            river = RiverScene(width=width, height=height)
            river_frames, river_jpegs = _render(river, settings.frames)
            fire_frames, _ = _render(FireScene(width=width, height=height, ignition_s=0.0), settings.frames, 5.0)
            still_frames, _ = _render(LightsScene(width=width, height=height), settings.frames)
            decode = _rate(river_jpegs, lambda jpeg, _t: cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR),
                           settings.seconds)  # type: ignore[arg-type, return-value]

            calibration = LevelCalibration.from_marks([(y, level) for _, y, level in river.gauge_marks()])
            water = WaterLevelEstimator(calibration, 5)
            zone = polygon_mask([(0.46, 0.06), (0.56, 0.06), (0.56, 0.98), (0.46, 0.98)], width, height)
            water_rate = _rate(river_frames, lambda frame, _t: water.update(frame, zone), settings.seconds)

            fire = FireSmokeDetector(8, 16.0, 0.0003, 0.004)
            whole = {None: np.ones((height, width), bool)}
            fire_rate = _rate(fire_frames, lambda frame, _t: fire.update(frame, whole), settings.seconds)

            gated = _camera(width, "water_level, fire_smoke", river)
            gated_motion = _rate(fire_frames, gated.analyse, settings.seconds)
            gated_still = _camera(width, "water_level, fire_smoke", river)
            gated_still_rate = _rate(still_frames, gated_still.analyse, settings.seconds)

            figures = {
                "water level detector": water_rate,
                "fire/smoke detector": fire_rate,
                "gated pipeline, motion (both detectors)": gated_motion,
                "gated pipeline, still scene": gated_still_rate,
            }
            for name, value in figures.items():
                rows.append(Row(f"camera {size}: {name}", "frames/s/core", value, limit=decode))
            details[size] = {"jpeg_decode_fps": decode, **{name: value for name, value in figures.items()}}
    finally:
        cv2.setNumThreads(threads)
    return BenchResult("camera", rows, details)


if __name__ == "__main__":
    from bench import format_table

    result = run(CameraSettings())
    print(format_table(result.rows))
