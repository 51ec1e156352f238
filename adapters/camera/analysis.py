"""One camera's analysis, without I/O: frames in (at the analysis rate), detections out at the
report interval. Scales each frame to the analysis width, asks the motion gate whether the
detectors run, runs the camera's detectors and summarises their results per report interval
(the median water level, the highest fire and smoke scores)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from adapters.camera.fire import FireSmokeDetector, ZoneFireScore
from adapters.camera.geometry import FrameGeometry, LevelCalibration, frame_geometry
from adapters.camera.messages import Detection
from adapters.camera.motion import GateDecision, MotionGate
from adapters.camera.water import WaterLevel, WaterLevelEstimator
from hub.config import Camera

#: Detectors this version of the worker can run.
AVAILABLE_DETECTORS = frozenset(("water_level", "fire_smoke"))


@dataclass(frozen=True, slots=True)
class FrameResult:
    """What the analysis of one frame gave."""

    gate: GateDecision
    inference_ms: float
    water: WaterLevel | None = None
    fire: tuple[ZoneFireScore, ...] = ()


def scale_to_width(frame: np.ndarray, width: int) -> np.ndarray:
    """The frame scaled (down, or up) to `width` pixels, keeping its aspect ratio."""
    height, frame_width = frame.shape[:2]
    if frame_width == width:
        return frame
    new_height = max(1, round(height * width / frame_width))
    interpolation = cv2.INTER_AREA if width < frame_width else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, new_height), interpolation=interpolation)


class CameraAnalyser:
    """The analysis of one camera's frames."""

    def __init__(self, camera: Camera, perf_clock: Callable[[], float] = time.perf_counter):
        self.camera = camera
        self._perf_clock = perf_clock
        self._geometry: FrameGeometry | None = None
        motion = camera.motion
        self._gate = MotionGate(motion.pixel_threshold, motion.min_changed_fraction, motion.idle_interval_s,
                                motion.enabled)
        self._water: WaterLevelEstimator | None = None
        if "water_level" in camera.detectors and camera.water_level is not None:
            calibration = LevelCalibration.from_marks([(mark.y, mark.level_cm) for mark in camera.water_level.marks])
            self._water = WaterLevelEstimator(calibration, camera.water_level.smoothing_frames)
        self._water_interval: list[WaterLevel] = []
        self._fire: FireSmokeDetector | None = None
        if "fire_smoke" in camera.detectors:
            settings = camera.fire_smoke
            self._fire = FireSmokeDetector(settings.window_frames, settings.flicker_luma, settings.flame_pixels_scale,
                                           settings.smoke_pixels_scale)
        # Per zone (None: the whole view): the highest-scoring result of the interval, and the last.
        self._fire_interval: dict[str | None, ZoneFireScore] = {}
        self._last_fire: dict[str | None, ZoneFireScore] = {}
        self._last_water: WaterLevel | None = None

    @property
    def unavailable_detectors(self) -> list[str]:
        """Configured detectors this worker cannot run (yet)."""
        return [name for name in self.camera.detectors if name not in AVAILABLE_DETECTORS]

    def geometry(self, width: int, height: int) -> FrameGeometry:
        """Zone and mask rasters for the analysis size (rebuilt when the stream's size changes)."""
        if self._geometry is None or (self._geometry.width, self._geometry.height) != (width, height):
            self._geometry = frame_geometry(
                [(zone.name, zone.polygon) for zone in self.camera.zones],
                [mask.polygon for mask in self.camera.masks],
                width, height,
            )
        return self._geometry

    def analyse(self, frame_bgr: np.ndarray, t_s: float) -> FrameResult:
        """Analyse one decoded frame taken at stream time `t_s` (seconds)."""
        frame = scale_to_width(frame_bgr, self.camera.analysis_width)
        geometry = self.geometry(frame.shape[1], frame.shape[0])
        gate = self._gate.decide(frame, geometry.ignored, t_s)
        if not gate.run:
            return FrameResult(gate, 0.0)
        started = self._perf_clock()
        water = None
        if self._water is not None and self.camera.water_level is not None:
            water = self._water.update(frame, geometry.zones[self.camera.water_level.zone])
            if water is not None:
                self._water_interval.append(water)
                self._last_water = water
        fire: tuple[ZoneFireScore, ...] = ()
        if self._fire is not None:
            zones: dict[str | None, np.ndarray] = {None: geometry.analysed, **geometry.zones}
            fire = tuple(self._fire.update(frame, zones))
            for score in fire:
                best = self._fire_interval.get(score.zone)
                if best is None or (score.fire_score, score.smoke_score) > (best.fire_score, best.smoke_score):
                    self._fire_interval[score.zone] = score
                self._last_fire[score.zone] = score
        return FrameResult(gate, (self._perf_clock() - started) * 1000.0, water, fire)

    def report(self, ts_ms: int) -> list[Detection]:
        """The detections summarising the interval since the last report, stamped `ts_ms`."""
        detections = []
        if self._water is not None and self.camera.water_level is not None:
            estimates = self._water_interval or ([self._last_water] if self._last_water else [])
            if estimates:
                detections.append(self._water_detection(estimates, ts_ms))
        self._water_interval = []
        if self._fire is not None:
            scores = self._fire_interval or self._last_fire
            for zone, score in scores.items():
                detections.append(fire_detection(self.camera.id, ts_ms, score))
            self._fire_interval = {}
        return detections

    def _water_detection(self, estimates: list[WaterLevel], ts_ms: int) -> Detection:
        assert self.camera.water_level is not None
        confident = [e for e in estimates if e.confidence >= self.camera.water_level.min_confidence]
        zone = self.camera.water_level.zone
        if not confident:
            # No level worth reporting, but the confidence is: a fogged lens is itself news.
            values = {"confidence": max(e.confidence for e in estimates)}
            return Detection("camera_water", self.camera.id, ts_ms, values)
        level = float(np.median([e.level_cm for e in confident]))
        confidence = float(np.mean([e.confidence for e in confident]))
        y = float(np.median([e.y for e in confident]))
        objects = [{"type": "waterline", "zone": zone, "y": round(y, 4)}]
        # One level per camera: the whole-view message (zone null) that its camera_water sensor takes.
        return Detection("camera_water", self.camera.id, ts_ms, {"level_cm": level, "confidence": confidence},
                         None, objects)


def fire_detection(camera_id: str, ts_ms: int, score: ZoneFireScore) -> Detection:
    """The detection message of one zone's fire and smoke scores."""
    objects: list[dict[str, object]] = []
    if score.flame_box is not None:
        objects.append({"type": "flame", "bbox": [round(value, 4) for value in score.flame_box],
                        "pixels": score.flickering_pixels, "growing": score.growing})
    if score.smoke_pixels:
        objects.append({"type": "smoke", "pixels": score.smoke_pixels, "rising": score.rising})
    return Detection("fire", camera_id, ts_ms, {"fire_score": score.fire_score, "smoke_score": score.smoke_score},
                     score.zone, objects)
