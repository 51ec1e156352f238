"""Helpers of the camera tests: a camera config around a synthetic scene, and a scripted capture
(the transport injected into the worker) that plays frames, failures and drops."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from firmware_sim.camera_scenes import RiverScene
from hub.config import Camera, SiteConfig, parse_config


def river_camera_yaml(scene: RiverScene, camera_id: str = "cam-river", extra: str = "") -> str:
    """A camera entry (YAML) calibrated on `scene`'s gauge, marks every 50 cm."""
    marks = ", ".join(f"{{x: {x:.4f}, y: {y:.5f}, level_cm: {level:g}}}" for x, y, level in scene.gauge_marks())
    left, right = scene.gauge_left - 0.005, scene.gauge_right + 0.005
    top, bottom = scene.gauge_top - 0.02, min(1.0, scene.gauge_bottom + 0.04)
    return f"""
  - id: {camera_id}
    area: centre
    location: {{lat: 42.6, lon: 25.4}}
    detectors: [water_level]
    analysis_fps: 2
    analysis_width: {scene.width}
    zones: [{{name: gauge, polygon: [[{left}, {top}], [{right}, {top}], [{right}, {bottom}], [{left}, {bottom}]]}}]
    water_level: {{zone: gauge, marks: [{marks}], smoothing_frames: 3}}
    report: {{detection_interval_s: 2, health_interval_s: 1}}
    reconnect: {{initial_s: 0.05, max_s: 0.2}}
{extra}"""


def site_with_cameras(cameras_yaml: str, sensors_yaml: str = "[]") -> SiteConfig:
    return parse_config(f"""
site: {{id: kz, name: Kazanlak}}
areas: [{{id: centre, name: Център, type: neighbourhood}}]
sensors: {sensors_yaml}
cameras:
{cameras_yaml}
""")


def river_camera(scene: RiverScene, **overrides: object) -> Camera:
    camera = site_with_cameras(river_camera_yaml(scene)).cameras[0]
    return camera.model_copy(update=overrides) if overrides else camera


class ScriptedCapture:
    """Plays a script: an ndarray is a good frame, None a frame that fails to decode, "end" a
    failed grab (stream over or dropped). Time comes from `CAP_PROP_POS_MSEC` at `fps`."""

    def __init__(self, script: Iterable[object], fps: float = 10.0):
        self._script = list(script)
        self._position = -1
        self._fps = fps
        self.retrieved = 0
        self.released = False

    def grab(self) -> bool:
        self._position += 1
        return self._position < len(self._script) and not (isinstance(self._script[self._position], str))

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        self.retrieved += 1
        frame = self._script[self._position]
        return (frame is not None), frame  # type: ignore[return-value]

    def get(self, prop_id: int) -> float:
        import cv2

        if prop_id == cv2.CAP_PROP_POS_MSEC:
            return (self._position + 1) * 1000.0 / self._fps
        return self._fps

    def release(self) -> None:
        self.released = True
